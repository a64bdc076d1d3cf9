// RedisConn: one blocking RESP2 connection to the source or the target, plain TCP or
// TLS (rediss://), with a timeout on every call: a call fails when the peer makes no
// progress (nothing read or written) for that long. hiredis formats the requests and
// parses the replies (redisFormatCommandArgv, redisReader); the socket and its TLS
// session are our own (migrate/tls_transport.h), since Debian's hiredis has no TLS.
// Errors are values: a reply of type REPLY_ERROR, or a null reply with error() saying
// what happened (refused, timeout, closed, certificate not trusted) and to whom.
//
// Thread-safety: requires external synchronization; one RedisConn per thread.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "migrate/tls_settings.h"
#include "migrate/tls_transport.h"

namespace darter::migrate {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// Text of a status/string/error reply; the integer for an integer reply.
std::string ReplyText(const redisReply* r);
bool IsError(const redisReply* r);

class RedisConn {
 public:
  RedisConn() = default;
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Connects (with the TLS handshake and certificate check when tls.enabled) and, when
  // `password` is set, authenticates. `what` names the peer in messages ("source
  // 10.0.0.1:6379"). Returns an error message or nullopt.
  std::optional<std::string> Connect(const std::string& what, const std::string& host, int port,
                                     const std::string& user, const std::string& password,
                                     const TlsSettings& tls = TlsSettings(),
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool connected() const { return transport_.fd() >= 0 && error_.empty(); }
  bool tls() const { return transport_.tls(); }
  const std::string& error() const { return error_; }
  const std::string& what() const { return what_; }

  // One command; null on an I/O error (see error()).
  ReplyPtr Cmd(const std::vector<std::string>& argv);
  // Sends all, then reads one reply per command; stops at the first I/O error
  // (the vector is then shorter than `cmds`).
  std::vector<ReplyPtr> Pipeline(const std::vector<std::vector<std::string>>& cmds);

  // The local IP address of this connection (what the peer sees us as), or "".
  std::string LocalAddress() const;

  // INFO <section> parsed into field → value (empty on error).
  std::map<std::string, std::string> Info(const std::string& section);

 private:
  // Writes `out` (formatted commands) and reads `replies` replies into *got, reading
  // while writing so a long pipeline never waits on a peer that waits on us. False on
  // an I/O or protocol error (error_ set; *got holds the replies read before it).
  bool Exchange(const std::string& out, size_t replies, std::vector<ReplyPtr>* got);
  void Fail(const std::string& why);

  Transport transport_;
  redisReader* reader_ = nullptr;
  std::chrono::milliseconds timeout_{10000};
  std::string what_;
  std::string error_;
};

// Appends argv as one RESP request to *out.
void AppendCommand(const std::vector<std::string>& argv, std::string* out);

// Parsing helpers for INFO fields.
long long InfoInt(const std::map<std::string, std::string>& info, const std::string& field, long long dflt = -1);
std::string InfoStr(const std::map<std::string, std::string>& info, const std::string& field);

}  // namespace darter::migrate
