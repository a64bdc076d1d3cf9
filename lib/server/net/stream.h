// Stream: one TCP connection, plain or TLS, with Asio's async stream interface
// (async_read_some / async_write_some, so asio::async_write and friends work on it).
//
// Plain TCP costs one predictable branch per I/O call, no virtual call and no
// allocation. TLS is an asio::ssl::stream over the same socket, holding a reference to
// the context it was made with (a CONFIG SET reload does not pull it from under an open
// connection).
//
// Invariants a TLS stream needs, which the plain one tolerates: at most one read and one
// write in flight at a time, and no synchronous I/O while an asynchronous operation is
// pending (the SSL object is shared by both directions). Every operation runs on the
// socket's executor (the owning thread).
//
// Thread-safety: none; owned by one connection on one thread. Not movable (the TLS layer
// refers to the socket member).
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
  // TLS over `socket`; the handshake is Handshake's.
  Stream(Tcp socket, std::shared_ptr<asio::ssl::context> tls);
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool tls() const { return ssl_ != nullptr; }
  Tcp& tcp() { return socket_; }
  const Tcp& tcp() const { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }
  bool is_open() const { return socket_.is_open(); }
  // The OpenSSL object of a TLS stream (per-connection settings before the handshake).
  SSL* native_ssl() { return ssl_ ? ssl_->native_handle() : nullptr; }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (ssl_) return ssl_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (ssl_) return ssl_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  // Blocking write (asio::write works on a Stream). Only while no asynchronous operation
  // is pending on the stream, in either direction.
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    if (ssl_) return ssl_->write_some(buffers, ec);
    return socket_.write_some(buffers, ec);
  }

  // The TLS handshake (a no-op on a plain stream), ended with a timeout error after
  // `timeout`. The server side asks for a client certificate per `verify_mode`
  // (SSL_VERIFY_*); the client side sends `sni` (when not empty) and verifies the
  // server's chain against the context's CA unless `verify` is false.
  awaitable<boost::system::error_code> ServerHandshake(int verify_mode, std::chrono::milliseconds timeout);
  awaitable<boost::system::error_code> ClientHandshake(const std::string& sni, bool verify,
                                                       std::chrono::milliseconds timeout);

  // Ends pending operations (they complete with operation_aborted). A cancelled read
  // leaves the stream usable, TLS too: the SSL object keeps any partial record it holds
  // and the next read resumes it. A cancelled write may cut a TLS record: close then.
  void cancel(boost::system::error_code& ec) { socket_.cancel(ec); }
  // Shuts the socket down and closes it; pending operations end. No TLS close_notify is
  // sent (Redis does not wait for one either).
  void Close();

 private:
  awaitable<boost::system::error_code> Handshake(asio::ssl::stream_base::handshake_type type,
                                                 std::chrono::milliseconds timeout);

  Tcp socket_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  std::unique_ptr<asio::ssl::stream<Tcp&>> ssl_;
};

// A readable text for a TLS or socket error, for log lines ("wrong version number",
// "certificate verify failed", "timed out").
std::string DescribeStreamError(const boost::system::error_code& ec);

}  // namespace darter::server::net
