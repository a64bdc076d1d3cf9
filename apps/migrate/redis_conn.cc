#include "migrate/redis_conn.h"

#include <arpa/inet.h>
#include <hiredis/read.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

namespace darter::migrate {

std::string ReplyText(const redisReply* r) {
  if (!r) return "";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    default:
      return "";
  }
}

bool IsError(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_ERROR; }

RedisConn::~RedisConn() {
  if (reader_) redisReaderFree(reader_);
}

void AppendCommand(const std::vector<std::string>& argv, std::string* out) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (len > 0 && cmd) out->append(cmd, static_cast<size_t>(len));
  if (cmd) redisFreeCommand(cmd);
}

void RedisConn::Fail(const std::string& why) {
  error_ = "lost the connection to " + what_ + ": " + why;
  // The stream is out of step with its requests now: never read from it again.
  transport_.Close();
}

std::optional<std::string> RedisConn::Connect(const std::string& what, const std::string& host, int port,
                                              const std::string& user, const std::string& password,
                                              const TlsSettings& tls, std::chrono::milliseconds timeout) {
  what_ = what;
  error_.clear();
  timeout_ = timeout;
  if (reader_) redisReaderFree(reader_);
  reader_ = redisReaderCreate();
  if (auto err = transport_.Connect(host, port, tls, timeout)) {
    // A handshake or certificate problem names the peer first; a refused TCP connect
    // reads as before ("cannot connect to source 10.0.0.1:6379: Connection refused").
    error_ = err->rfind("TLS", 0) == 0 ? what + ": " + *err : "cannot connect to " + what + ": " + *err;
    if (err->find("certificate verify failed") != std::string::npos && err->find("mismatch") == std::string::npos)
      error_ += " (give the CA that signed it with " + tls.flag_prefix + "ca-cert or " + tls.flag_prefix +
                "ca-cert-dir, or skip the check with " + tls.flag_prefix + "insecure)";
    transport_.Close();
    return error_;
  }
  if (!password.empty()) {
    ReplyPtr r = user.empty() ? Cmd({"AUTH", password}) : Cmd({"AUTH", user, password});
    if (!r) return error_;
    if (r->type == REDIS_REPLY_ERROR) {
      error_ = what + " refused AUTH" + (user.empty() ? "" : " for user '" + user + "'") + ": " + ReplyText(r.get());
      return error_;
    }
  }
  ReplyPtr pong = Cmd({"PING"});
  if (!pong) {
    // A TLS port closes a plain connection at its first bytes.
    if (!tls.enabled) error_ += " (if this port serves TLS, use rediss://)";
    // TLS 1.3 servers refuse a missing client certificate after the handshake.
    else if (tls.cert_file.empty())
      error_ += " (if the server requires a client certificate, give " + tls.flag_prefix + "cert and " +
                tls.flag_prefix + "key)";
    return error_;
  }
  if (pong->type == REDIS_REPLY_ERROR) {
    std::string msg = ReplyText(pong.get());
    error_ = what + " answered PING with -" + msg +
             (msg.rfind("NOAUTH", 0) == 0 ? " (give the password: redis://[user:]password@host:port)" : "");
    return error_;
  }
  return std::nullopt;
}

bool RedisConn::Exchange(const std::string& out, size_t replies, std::vector<ReplyPtr>* got) {
  using Clock = std::chrono::steady_clock;
  size_t written = 0;
  auto last_progress = Clock::now();
  char buf[64 * 1024];
  std::string err;
  while (got->size() < replies) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      Fail("protocol error: " + std::string(reader_->errstr));
      return false;
    }
    if (reply) {
      got->emplace_back(static_cast<redisReply*>(reply));
      continue;
    }
    bool progress = false;
    if (written < out.size()) {
      ssize_t n = transport_.Write(out.data() + written, out.size() - written, &err);
      if (n < 0) {
        Fail(err);
        return false;
      }
      written += static_cast<size_t>(n);
      progress = n > 0;
    }
    ssize_t n = transport_.Read(buf, sizeof buf, &err);
    if (n < 0) {
      Fail(err);
      return false;
    }
    if (n > 0) {
      redisReaderFeed(reader_, buf, static_cast<size_t>(n));
      progress = true;
    }
    if (progress) {
      last_progress = Clock::now();
      continue;
    }
    auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_progress);
    if (idle >= timeout_) {
      Fail("no reply within " + std::to_string(timeout_.count()) + " ms");
      return false;
    }
    pollfd p{transport_.fd(), transport_.WantEvents(true), 0};
    if (written < out.size()) p.events |= transport_.WantEvents(false);
    poll(&p, 1, static_cast<int>((timeout_ - idle).count()));
  }
  return true;
}

ReplyPtr RedisConn::Cmd(const std::vector<std::string>& argv) {
  if (transport_.fd() < 0 || !error_.empty()) {
    if (error_.empty()) error_ = "not connected to " + what_;
    return nullptr;
  }
  std::string out;
  AppendCommand(argv, &out);
  std::vector<ReplyPtr> got;
  if (!Exchange(out, 1, &got)) return nullptr;
  return std::move(got[0]);
}

std::vector<ReplyPtr> RedisConn::Pipeline(const std::vector<std::vector<std::string>>& cmds) {
  std::vector<ReplyPtr> out;
  if (transport_.fd() < 0 || !error_.empty()) return out;
  std::string buf;
  for (auto& argv : cmds) AppendCommand(argv, &buf);
  Exchange(buf, cmds.size(), &out);
  return out;
}

std::string RedisConn::LocalAddress() const {
  if (transport_.fd() < 0) return "";
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(transport_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return buf;
}

std::map<std::string, std::string> RedisConn::Info(const std::string& section) {
  std::map<std::string, std::string> out;
  ReplyPtr r = Cmd({"INFO", section});
  if (!r || r->type != REDIS_REPLY_STRING) return out;
  std::string text(r->str, r->len);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

long long InfoInt(const std::map<std::string, std::string>& info, const std::string& field, long long dflt) {
  auto it = info.find(field);
  if (it == info.end() || it->second.empty()) return dflt;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  return end == it->second.c_str() ? dflt : v;
}

std::string InfoStr(const std::map<std::string, std::string>& info, const std::string& field) {
  auto it = info.find(field);
  return it == info.end() ? std::string() : it->second;
}

}  // namespace darter::migrate
