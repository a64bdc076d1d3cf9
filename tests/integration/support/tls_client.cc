#include "support/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>

namespace darter::test {

namespace {
std::string SslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}
}  // namespace

TlsClient::TlsClient(int port, const TlsClientOptions& o) {
  ERR_clear_error();
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(o.timeout.count() / 1000), static_cast<suseconds_t>((o.timeout.count() % 1000) * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error_ = "connect failed";
    return;
  }
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) != 1) {
      error_ = "cannot load CA: " + SslErrors();
      return;
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, o.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      error_ = "cannot load client certificate: " + SslErrors();
      return;
    }
  }
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd_);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl, o.sni.c_str());
  if (SSL_connect(ssl) != 1) {
    error_ = "handshake failed: " + SslErrors();
    verify_result_ = X509_verify_cert_error_string(SSL_get_verify_result(ssl));
    SSL_free(ssl);
    return;
  }
  ssl_ = ssl;
}

TlsClient::~TlsClient() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

std::string TlsClient::PeerSubject() const {
  if (!ssl_) return "";
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return "";
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  X509_free(cert);
  return buf;
}

Reply TlsClient::IoError() const {
  Reply r;
  r.type = Reply::Type::kIoError;
  r.str = error_.empty() ? "not connected" : error_;
  return r;
}

Reply TlsClient::Cmd(const std::vector<std::string>& argv) {
  if (!ok()) return IoError();
  std::string msg = "*" + std::to_string(argv.size()) + "\r\n";
  for (const auto& a : argv) msg += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  size_t sent = 0;
  while (sent < msg.size()) {
    int n = SSL_write(ssl_, msg.data() + sent, static_cast<int>(msg.size() - sent));
    if (n <= 0) {
      error_ = "write failed: " + SslErrors();
      return IoError();
    }
    sent += static_cast<size_t>(n);
  }
  Reply r;
  if (!ReadReply(&r, 0)) return IoError();
  return r;
}

bool TlsClient::ReadMore() {
  char buf[16384];
  int n = SSL_read(ssl_, buf, sizeof buf);
  if (n <= 0) {
    int e = SSL_get_error(ssl_, n);
    error_ = e == SSL_ERROR_ZERO_RETURN ? "connection closed" : "read failed: " + SslErrors();
    return false;
  }
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.append(buf, static_cast<size_t>(n));
  return true;
}

bool TlsClient::ReadLine(std::string* line) {
  while (true) {
    size_t eol = buf_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      line->assign(buf_, pos_, eol - pos_);
      pos_ = eol + 2;
      return true;
    }
    if (!ReadMore()) return false;
  }
}

bool TlsClient::ReadReply(Reply* out, int depth) {
  std::string line;
  if (depth > 8 || !ReadLine(&line) || line.empty()) {
    if (error_.empty()) error_ = "malformed reply";
    return false;
  }
  std::string body = line.substr(1);
  switch (line[0]) {
    case '+': out->type = Reply::Type::kStatus; out->str = body; return true;
    case '-': out->type = Reply::Type::kError; out->str = body; return true;
    case ':': out->type = Reply::Type::kInteger; out->integer = std::atoll(body.c_str()); return true;
    case '$': {
      long long n = std::atoll(body.c_str());
      if (n < 0) {
        out->type = Reply::Type::kNil;
        return true;
      }
      while (buf_.size() - pos_ < static_cast<size_t>(n) + 2)
        if (!ReadMore()) return false;
      out->type = Reply::Type::kString;
      out->str = buf_.substr(pos_, static_cast<size_t>(n));
      pos_ += static_cast<size_t>(n) + 2;
      return true;
    }
    case '*': {
      long long n = std::atoll(body.c_str());
      if (n < 0) {
        out->type = Reply::Type::kNilArray;
        return true;
      }
      out->type = Reply::Type::kArray;
      out->elements.resize(static_cast<size_t>(n));
      for (auto& e : out->elements)
        if (!ReadReply(&e, depth + 1)) return false;
      return true;
    }
  }
  error_ = "unexpected reply type '" + line.substr(0, 1) + "'";
  return false;
}

}  // namespace darter::test
