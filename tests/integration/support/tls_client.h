// TlsClient: a blocking RESP2 client over TLS (OpenSSL directly; Debian 12's hiredis
// 0.14 has no TLS), for the TLS integration tests. Verifies the server's chain against
// `ca_file` unless it is empty; presents `cert_file`/`key_file` when given.
//
// Every operation is bounded by the timeout given at construction; a failure becomes a
// kIoError reply and the client stays broken (ok() == false).
//
// Thread-safety: requires external synchronization.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "support/reply.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace darter::test {

struct TlsClientOptions {
  std::string ca_file;    // empty: no verification
  std::string cert_file;  // empty: no client certificate
  std::string key_file;
  std::string sni;  // server name to send; empty: none
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
};

class TlsClient {
 public:
  TlsClient(int port, const TlsClientOptions& options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Connected and handshaken (the server accepted us and, when asked, we accepted it).
  bool ok() const { return ssl_ != nullptr && error_.empty(); }
  // Why the connection, handshake or last operation failed (OpenSSL's reason).
  const std::string& error() const { return error_; }
  // Why the server's certificate was rejected ("certificate has expired"), or "ok".
  const std::string& verify_result() const { return verify_result_; }
  // The subject of the certificate the server presented ("" when none).
  std::string PeerSubject() const;

  Reply Cmd(const std::vector<std::string>& argv);

 private:
  bool ReadMore();
  bool ReadLine(std::string* line);
  bool ReadReply(Reply* out, int depth);
  Reply IoError() const;

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
  std::string verify_result_ = "ok";
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace darter::test
