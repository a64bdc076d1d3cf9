// Transport: the byte stream under RedisConn — a TCP socket, plain or wrapped in an
// OpenSSL client session. The socket is non-blocking; callers wait with poll() on
// fd() for the events WantEvents() names (a TLS read may need the socket writable
// during a renegotiation, and a write readable).
//
// Every failure is returned as text naming what failed, without the peer (the caller
// prefixes "source 10.0.0.1:6380: ").
//
// Thread-safety: requires external synchronization; one Transport per connection.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "migrate/tls_settings.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace darter::migrate {

class Transport {
 public:
  Transport() = default;
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // TCP connect, then (tls.enabled) the TLS handshake with verification, both within
  // `timeout`. Returns an error or nullopt.
  std::optional<std::string> Connect(const std::string& host, int port, const TlsSettings& tls,
                                     std::chrono::milliseconds timeout);
  void Close();

  int fd() const { return fd_; }
  bool tls() const { return ssl_ != nullptr; }

  // > 0: bytes moved; 0: would block (poll for WantEvents()); -1: failed (*error set,
  // including "closed by the peer" for a read at end of stream).
  ssize_t Read(char* buf, size_t len, std::string* error);
  ssize_t Write(const char* buf, size_t len, std::string* error);
  // The poll events the last would-block result is waiting for (a plain socket:
  // POLLIN for a read, POLLOUT for a write).
  short WantEvents(bool for_read) const;

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  short read_wants_ = POLLIN;
  short write_wants_ = POLLOUT;
};

// "a.b.c.d" or an IPv6 literal (the certificate is then checked for that IP address).
bool IsIpLiteral(const std::string& host);

}  // namespace darter::migrate
