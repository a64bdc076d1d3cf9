// RedisConn: one blocking RESP2 connection (hiredis) to the source or the target, with
// a timeout on every call. Errors are values: a reply of type REPLY_ERROR, or a null
// reply with error() saying what happened (refused, timeout, closed) and to whom.
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

  // Connects and, when `password` is set, authenticates. `what` names the peer in
  // messages ("source 10.0.0.1:6379"). Returns an error message or nullopt.
  std::optional<std::string> Connect(const std::string& what, const std::string& host, int port,
                                     const std::string& user, const std::string& password,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool connected() const { return ctx_ != nullptr && error_.empty(); }
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
  redisContext* ctx_ = nullptr;
  std::string what_;
  std::string error_;
};

// Parsing helpers for INFO fields.
long long InfoInt(const std::map<std::string, std::string>& info, const std::string& field, long long dflt = -1);
std::string InfoStr(const std::map<std::string, std::string>& info, const std::string& field);

}  // namespace darter::migrate
