#include "support/client.h"

#include <sys/time.h>

namespace darter::test {

namespace {

timeval ToTimeval(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return tv;
}

}  // namespace

Client::Client(const std::string& host, int port, std::chrono::milliseconds timeout) {
  context_ = redisConnectWithTimeout(host.c_str(), port, ToTimeval(timeout));
  if (context_ == nullptr) {
    error_ = "cannot allocate a hiredis context";
    return;
  }
  if (context_->err) {
    error_ = "connect to " + host + ":" + std::to_string(port) + ": " + context_->errstr;
    return;
  }
  if (redisSetTimeout(context_, ToTimeval(timeout)) != REDIS_OK) {
    error_ = std::string("redisSetTimeout: ") + context_->errstr;
    return;
  }
  reader_ = std::make_unique<RespReader>(context_->fd);
}

Client::~Client() {
  if (context_ != nullptr) redisFree(context_);
}

Client::Client(Client&& other) noexcept
    : context_(other.context_), reader_(std::move(other.reader_)), error_(std::move(other.error_)) {
  other.context_ = nullptr;
}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (context_ != nullptr) redisFree(context_);
    context_ = other.context_;
    reader_ = std::move(other.reader_);
    error_ = std::move(other.error_);
    other.context_ = nullptr;
  }
  return *this;
}

Reply Client::IoError() const {
  Reply reply;
  reply.type = Reply::Type::kIoError;
  reply.str = error_.empty() ? "client not connected" : error_;
  return reply;
}

void Client::Append(const std::vector<std::string>& argv) {
  if (!ok()) return;
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& arg : argv) {
    args.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), args.data(),
                             lengths.data()) != REDIS_OK) {
    error_ = std::string("redisAppendCommandArgv: ") + context_->errstr;
  }
}

bool Client::Flush() {
  if (!ok()) return false;
  int done = 0;
  while (!done) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) {
      error_ = std::string("write: ") + context_->errstr;
      return false;
    }
  }
  return true;
}

Reply Client::ReadReply() {
  if (!ok()) return IoError();
  Reply reply = reader_->Read();
  if (reply.IsIoError()) error_ = reply.str;
  return reply;
}

Reply Client::Cmd(const std::vector<std::string>& argv) {
  Append(argv);
  if (!Flush()) return IoError();
  return ReadReply();
}

std::vector<Reply> Client::Pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& argv : commands) Append(argv);
  Flush();
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) replies.push_back(ReadReply());
  return replies;
}

std::string FormatCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) out.push_back(' ');
    const std::string& arg = argv[i];
    bool plain = !arg.empty();
    for (unsigned char c : arg) {
      if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '\\') plain = false;
    }
    out += plain ? arg : Quote(arg);
  }
  return out;
}

}  // namespace darter::test
