#include "migrate/tls_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace darter::migrate {

namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// The first queued OpenSSL error as text ("wrong version number"), or `dflt`.
std::string OpenSslError(const std::string& dflt) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return dflt;
  const char* reason = ERR_reason_error_string(e);
  if (reason) return reason;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// A key file must never make OpenSSL prompt on the terminal for a passphrase (the
// progress bar owns it, and a prompt would stall the run): encrypted keys fail to load.
int NoPassphrase(char*, int, int, void*) { return 0; }

// Connects a non-blocking socket to one address within the deadline.
int ConnectOne(const addrinfo* ai, Clock::time_point deadline, std::string* error) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      *error = std::strerror(errno);
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = poll(&p, 1, RemainingMs(deadline));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      *error = "Connection timed out";
      close(fd);
      return -1;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (n < 0 || soerr != 0) {
      *error = std::strerror(n < 0 ? errno : soerr);
      close(fd);
      return -1;
    }
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

bool IsIpLiteral(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

Transport::~Transport() { Close(); }

void Transport::Close() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  fd_ = -1;
  read_wants_ = POLLIN;
  write_wants_ = POLLOUT;
}

std::optional<std::string> Transport::Connect(const std::string& host, int port, const TlsSettings& tls,
                                              std::chrono::milliseconds timeout) {
  Close();
  auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (gai != 0) return std::string("cannot resolve '") + host + "': " + gai_strerror(gai);
  std::string error = "no address";
  for (addrinfo* ai = res; ai && fd_ < 0; ai = ai->ai_next) fd_ = ConnectOne(ai, deadline, &error);
  freeaddrinfo(res);
  if (fd_ < 0) return error;
  if (!tls.enabled) return std::nullopt;

  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) return "cannot create a TLS context: " + OpenSslError("out of memory");
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx_, NoPassphrase);
  if (tls.insecure) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (tls.system_store()) {
      if (SSL_CTX_set_default_verify_paths(ctx_) != 1)
        return "cannot load the system's trusted CA certificates: " + OpenSslError("unknown error");
    } else if (SSL_CTX_load_verify_locations(ctx_, tls.ca_cert_file.empty() ? nullptr : tls.ca_cert_file.c_str(),
                                             tls.ca_cert_dir.empty() ? nullptr : tls.ca_cert_dir.c_str()) != 1) {
      std::string which = !tls.ca_cert_file.empty() ? tls.flag_prefix + "ca-cert " + tls.ca_cert_file
                                                    : tls.flag_prefix + "ca-cert-dir " + tls.ca_cert_dir;
      return "cannot load the CA certificates of " + which + ": " + OpenSslError("unknown error");
    }
  }
  if (!tls.cert_file.empty()) {
    const std::string& key = tls.key_file.empty() ? tls.cert_file : tls.key_file;
    if (SSL_CTX_use_certificate_chain_file(ctx_, tls.cert_file.c_str()) != 1)
      return "cannot load the client certificate " + tls.flag_prefix + "cert " + tls.cert_file + ": " +
             OpenSslError("unknown error");
    if (SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      std::string reason = OpenSslError("unknown error");
      if (reason.find("mismatch") != std::string::npos)
        return "the private key " + key + " does not match the certificate " + tls.cert_file;
      std::ifstream in(key);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return "cannot load the private key " + tls.flag_prefix + "key " + key + ": " + reason +
             (text.find("ENCRYPTED") != std::string::npos ? " (an encrypted key is not supported: give it unencrypted)"
                                                          : "");
    }
    if (SSL_CTX_check_private_key(ctx_) != 1)
      return "the private key " + key + " does not match the certificate " + tls.cert_file;
  }
  ssl_ = SSL_new(ctx_);
  if (!ssl_) return "cannot create a TLS session: " + OpenSslError("out of memory");
  SSL_set_fd(ssl_, fd_);
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The name asked for (SNI) is also the name the certificate must carry.
  const std::string& name = tls.sni.empty() ? host : tls.sni;
  bool ip = IsIpLiteral(name);
  if (!ip) SSL_set_tlsext_host_name(ssl_, name.c_str());
  if (!tls.insecure) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    if (ok != 1) return "cannot check the certificate against '" + name + "': " + OpenSslError("invalid name");
  }
  while (true) {
    ERR_clear_error();
    int r = SSL_connect(ssl_);
    if (r == 1) return std::nullopt;
    int e = SSL_get_error(ssl_, r);
    short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (ev == 0) {
      long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK) {
        std::string msg = std::string("TLS certificate verify failed: ") + X509_verify_cert_error_string(v);
        if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
          msg += " (the certificate does not name '" + name + "'; --sni names the server to expect)";
        return msg;
      }
      int saved = errno;
      std::string reason = OpenSslError("");
      if (reason.empty())
        reason = (e == SSL_ERROR_SYSCALL && r < 0 && saved != 0)
                     ? std::string(std::strerror(saved))
                     : "the peer closed the connection (is this port serving TLS?)";
      return "TLS handshake failed: " + reason;
    }
    pollfd p{fd_, ev, 0};
    int n;
    do {
      n = poll(&p, 1, RemainingMs(deadline));
    } while (n < 0 && errno == EINTR);
    if (n == 0)
      return "TLS handshake timed out after " + std::to_string(timeout.count()) +
             " ms (is this port serving TLS?)";
    if (n < 0) return std::string("poll: ") + std::strerror(errno);
  }
}

ssize_t Transport::Read(char* buf, size_t len, std::string* error) {
  if (!ssl_) {
    ssize_t n = recv(fd_, buf, len, 0);
    if (n > 0) return n;
    if (n == 0) {
      *error = "connection closed by the peer";
      return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    *error = std::strerror(errno);
    return -1;
  }
  ERR_clear_error();
  int n = SSL_read(ssl_, buf, static_cast<int>(len));
  if (n > 0) return n;
  int saved = errno;
  switch (SSL_get_error(ssl_, n)) {
    case SSL_ERROR_WANT_READ:
      read_wants_ = POLLIN;
      return 0;
    case SSL_ERROR_WANT_WRITE:
      read_wants_ = POLLOUT;
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      *error = "connection closed by the peer";
      return -1;
    case SSL_ERROR_SYSCALL:
      *error = OpenSslError(saved ? std::strerror(saved) : "connection closed by the peer");
      return -1;
    default:
      *error = "TLS error: " + OpenSslError("unknown");
      return -1;
  }
}

ssize_t Transport::Write(const char* buf, size_t len, std::string* error) {
  if (!ssl_) {
    ssize_t n = send(fd_, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    *error = std::strerror(errno);
    return -1;
  }
  ERR_clear_error();
  int n = SSL_write(ssl_, buf, static_cast<int>(len > (1 << 30) ? (1 << 30) : len));
  if (n > 0) return n;
  int saved = errno;
  switch (SSL_get_error(ssl_, n)) {
    case SSL_ERROR_WANT_READ:
      write_wants_ = POLLIN;
      return 0;
    case SSL_ERROR_WANT_WRITE:
      write_wants_ = POLLOUT;
      return 0;
    case SSL_ERROR_SYSCALL:
      *error = OpenSslError(saved ? std::strerror(saved) : "connection closed by the peer");
      return -1;
    default:
      *error = "TLS error: " + OpenSslError("unknown");
      return -1;
  }
}

short Transport::WantEvents(bool for_read) const {
  if (!ssl_) return for_read ? POLLIN : POLLOUT;
  return for_read ? read_wants_ : write_wants_;
}

}  // namespace darter::migrate
