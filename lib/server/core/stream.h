// Stream: one TCP connection, plain or TLS, with Asio's async stream interface
// (async_read_some / async_write_some, so asio::async_write and friends work on it).
//
// Plain TCP costs one predictable branch per I/O call, no virtual call and no
// allocation. TLS is OpenSSL reading and writing the socket itself (a socket BIO, read
// ahead on), as Redis does: an operation calls SSL_read/SSL_write and, when OpenSSL wants
// the socket readable or writable, waits for that with the socket's async_wait and
// retries. No copy through memory BIOs, no composed transport operation per record. The
// stream holds a reference to the context it was made with, so a CONFIG SET reload does
// not pull it from under an open connection.
//
// Invariants a TLS stream needs, which the plain one tolerates: at most one read and one
// write in flight at a time, and no synchronous I/O while an asynchronous operation is
// pending. Every operation runs on the socket's executor (the owning thread). OpenSSL
// writes with write(2): the process blocks or ignores SIGPIPE (darter-server and
// darter-migrate block it in every thread).
//
// Thread-safety: none; owned by one connection on one thread. Not movable.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "server/core/asio.h"

#include <boost/asio/ssl.hpp>

namespace darter::server::net {

class Stream {
 public:
  using executor_type = asio::ip::tcp::socket::executor_type;
  using Tcp = asio::ip::tcp::socket;

  explicit Stream(Tcp socket) : socket_(std::move(socket)) {}
  // TLS over `socket` (which may be connected later); the handshake is Handshake's.
  Stream(Tcp socket, std::shared_ptr<asio::ssl::context> tls);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool tls() const { return ssl_ != nullptr; }
  Tcp& tcp() { return socket_; }
  const Tcp& tcp() const { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }
  bool is_open() const { return socket_.is_open(); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (!ssl_) return socket_.async_read_some(buffers, std::forward<Token>(token));
    asio::mutable_buffer b = *asio::buffer_sequence_begin(buffers);
    return asio::async_compose<Token, void(boost::system::error_code, size_t)>(TlsOp{this, b.data(), b.size(), false},
                                                                                 token, socket_);
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (!ssl_) return socket_.async_write_some(buffers, std::forward<Token>(token));
    asio::const_buffer b = *asio::buffer_sequence_begin(buffers);
    return asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        TlsOp{this, const_cast<void*>(b.data()), b.size(), true}, token, socket_);
  }

  // Blocking write (asio::write works on a Stream). Only while no asynchronous operation
  // is pending on the stream, in either direction.
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    if (!ssl_) return socket_.write_some(buffers, ec);
    asio::const_buffer b = *asio::buffer_sequence_begin(buffers);
    return TlsWriteBlocking(b.data(), b.size(), ec);
  }

  // The TLS handshake (a no-op on a plain stream), ended with a timeout error after
  // `timeout`. The server side asks for a client certificate per `verify_mode`
  // (SSL_VERIFY_*); the client side sends `sni` (when not empty and not an address) and
  // verifies the server's chain against the context's CA unless `verify` is false.
  awaitable<boost::system::error_code> ServerHandshake(int verify_mode, std::chrono::milliseconds timeout);
  awaitable<boost::system::error_code> ClientHandshake(const std::string& sni, bool verify,
                                                       std::chrono::milliseconds timeout);

  // Ends pending operations (they complete with operation_aborted). A cancelled TLS
  // operation was waiting for the socket, between two SSL calls: the stream stays usable.
  void cancel(boost::system::error_code& ec) { socket_.cancel(ec); }
  // Shuts the socket down and closes it; pending operations end. No TLS close_notify is
  // sent (Redis does not wait for one either).
  void Close();

 private:
  // One SSL_read or SSL_write, retried after each wait OpenSSL asks for. A result on the
  // first try is posted, never delivered inside the initiating call.
  struct TlsOp {
    Stream* s;
    void* data;
    size_t size;
    bool write;
    bool started = false;
    bool done = false;
    size_t result = 0;
    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      if (done) return self.complete(ec, result);
      if (ec) return self.complete(ec, 0);  // the wait ended: cancelled or closed
      const bool first = !started;
      started = true;
      asio::socket_base::wait_type wait{};
      size_t n = 0;
      ec = s->TlsStep(write, data, size, &n, &wait);
      if (ec == asio::error::would_block) {
        s->socket_.async_wait(wait, std::move(self));
        return;
      }
      if (!first) return self.complete(ec, n);
      done = true;
      result = n;
      auto ex = s->socket_.get_executor();
      asio::post(ex, asio::detail::bind_handler(std::move(self), ec));
    }
  };

  // SSL_read or SSL_write once. would_block (with *wait set) when OpenSSL needs the
  // socket readable or writable first; else the result.
  boost::system::error_code TlsStep(bool write, void* data, size_t size, size_t* n, asio::socket_base::wait_type* wait);
  size_t TlsWriteBlocking(const void* data, size_t size, boost::system::error_code& ec);
  awaitable<boost::system::error_code> Handshake(bool server, std::chrono::milliseconds timeout);

  Tcp socket_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  SSL* ssl_ = nullptr;
};

// A readable text for a TLS or socket error, for log lines ("wrong version number",
// "certificate verify failed", "timed out").
std::string DescribeStreamError(const boost::system::error_code& ec);

}  // namespace darter::server::net
