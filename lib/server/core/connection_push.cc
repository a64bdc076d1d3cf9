// Connection's asynchronous output (pub/sub messages): see Push in connection.h.
//
// Invariant: at most one async_write is in flight per connection, either Flush's (of
// out_, during a batch) or PushWriter's (of wbuf_). Bytes reach the socket in the order
// they were produced: a push that arrives during a batch joins out_ behind the replies
// produced so far; one that arrives while out_ is being written, or while the connection
// is idle, waits in push_, which is written before the next out_ (Flush first waits for
// PushWriter).
#include "server/core/connection.h"
#include "server/core/log.h"
#include "server/core/server.h"
#include "store/string_util.h"

namespace darter::server {

namespace {
// A write buffer larger than this is freed after use rather than kept for the next one.
constexpr size_t kKeepWriteBuffer = 1024 * 1024;
}  // namespace

void Connection::Push(std::string_view bytes) {
  if (closed_) return;
  if (in_batch_ && !flush_writing_ && !dropping_reply_) out_.append(bytes);
  else push_.append(bytes);
  if (OutputLimitReached()) return;
  if (!in_batch_ && !push_writing_) StartPushWriter();
}

void Connection::PushAfterCommand(std::string_view bytes) {
  if (in_batch_) after_command_.append(bytes);
  else Push(bytes);
}

void Connection::ReleaseAfterCommand() {
  if (after_command_.empty()) return;
  std::string bytes;
  bytes.swap(after_command_);
  Push(bytes);
}

void Connection::StartPushWriter() {
  if (push_writing_ || closed_) return;
  push_writing_ = true;
  // The lambda (and its reference to the connection) lives until the writer returns.
  asio::co_spawn(
      stream_.get_executor(), [self = shared_from_this()] { return self->PushWriter(); }, asio::detached);
}

awaitable<void> Connection::PushWriter() {
  ThreadStats& stats = server_.thread_stats(thread_);
  while (!push_.empty() && !closed_) {
    wbuf_.swap(push_);
    WatchOutputLimits();
    boost::system::error_code ec = co_await WriteAll(wbuf_, &wbuf_sent_);
    wbuf_sent_ = 0;
    stats.net_output_bytes += wbuf_.size();
    if (wbuf_.capacity() > kKeepWriteBuffer) std::string().swap(wbuf_);
    else wbuf_.clear();
    if (ec) {
      Close();
      break;
    }
  }
  push_writing_ = false;
  if (push_done_) push_done_->cancel();
}

awaitable<void> Connection::WaitForPushWriter() {
  if (!push_done_) push_done_ = std::make_unique<asio::steady_timer>(stream_.get_executor());
  while (push_writing_) {
    push_done_->expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await push_done_->async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

}  // namespace darter::server
