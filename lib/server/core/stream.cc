#include "server/core/stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>

namespace darter::server::net {

Stream::Stream(Tcp socket, std::shared_ptr<asio::ssl::context> tls)
    : socket_(std::move(socket)), tls_ctx_(std::move(tls)) {
  if (tls_ctx_) ssl_ = SSL_new(tls_ctx_->native_handle());
}

Stream::~Stream() {
  if (ssl_) SSL_free(ssl_);
}

void Stream::Close() {
  boost::system::error_code ec;
  socket_.shutdown(Tcp::shutdown_both, ec);
  socket_.close(ec);
}

boost::system::error_code Stream::TlsStep(bool write, void* data, size_t size, size_t* n,
                                          asio::socket_base::wait_type* wait) {
  *n = 0;
  if (!socket_.is_open()) return asio::error::bad_descriptor;
  if (size == 0) return {};
  ERR_clear_error();
  int r = write ? SSL_write_ex(ssl_, data, size, n) : SSL_read_ex(ssl_, data, size, n);
  if (r == 1) return {};
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      *wait = asio::socket_base::wait_read;
      return asio::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      *wait = asio::socket_base::wait_write;
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;  // close_notify
    case SSL_ERROR_SYSCALL:
      // No OpenSSL error queued: the socket failed, or the peer closed without close_notify.
      if (saved_errno != 0) return boost::system::error_code(saved_errno, boost::system::system_category());
      return asio::error::eof;
    default: {
      unsigned long e = ERR_get_error();
      ERR_clear_error();
      return boost::system::error_code(static_cast<int>(e), asio::error::get_ssl_category());
    }
  }
}

size_t Stream::TlsWriteBlocking(const void* data, size_t size, boost::system::error_code& ec) {
  while (true) {
    size_t n = 0;
    asio::socket_base::wait_type wait{};
    ec = TlsStep(true, const_cast<void*>(data), size, &n, &wait);
    if (ec != asio::error::would_block) return n;
    socket_.wait(wait, ec);
    if (ec) return 0;
  }
}

awaitable<boost::system::error_code> Stream::Handshake(bool server, std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  if (!ssl_) co_return ec;
  // OpenSSL calls recv/send on the socket itself: it must never block the thread.
  socket_.non_blocking(true, ec);
  if (ec || SSL_set_fd(ssl_, socket_.native_handle()) != 1) co_return ec ? ec : asio::error::bad_descriptor;
  if (server) SSL_set_accept_state(ssl_);
  else SSL_set_connect_state(ssl_);
  // The timer closes the socket if the handshake outlives it; `finished` tells a timer
  // that fired just as the handshake ended to leave the (now live) connection alone.
  auto finished = std::make_shared<bool>(false);
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(timeout);
  timer.async_wait([this, finished, timed_out](const boost::system::error_code& e) {
    if (e || *finished) return;
    *timed_out = true;
    boost::system::error_code ignore;
    socket_.close(ignore);
  });
  while (true) {
    if (!socket_.is_open()) {
      ec = asio::error::operation_aborted;
      break;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      ec = {};
      break;
    }
    const int saved_errno = errno;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      co_await socket_.async_wait(e == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read : asio::socket_base::wait_write,
                                  asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      continue;
    }
    if (e == SSL_ERROR_SSL) {
      ec = boost::system::error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
    } else if (e == SSL_ERROR_SYSCALL && saved_errno != 0) {
      ec = boost::system::error_code(saved_errno, boost::system::system_category());
    } else {
      ec = asio::error::eof;
    }
    ERR_clear_error();
    break;
  }
  *finished = true;
  timer.cancel();
  if (*timed_out) ec = asio::error::timed_out;
  co_return ec;
}

awaitable<boost::system::error_code> Stream::ServerHandshake(int verify_mode, std::chrono::milliseconds timeout) {
  if (ssl_) SSL_set_verify(ssl_, verify_mode, nullptr);
  co_return co_await Handshake(true, timeout);
}

awaitable<boost::system::error_code> Stream::ClientHandshake(const std::string& sni, bool verify,
                                                             std::chrono::milliseconds timeout) {
  if (ssl_) {
    SSL_set_verify(ssl_, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    // SNI carries a host name, never an address (RFC 6066).
    boost::system::error_code ec;
    asio::ip::make_address(sni, ec);
    if (!sni.empty() && ec) SSL_set_tlsext_host_name(ssl_, sni.c_str());
  }
  co_return co_await Handshake(false, timeout);
}

std::string DescribeStreamError(const boost::system::error_code& ec) {
  if (ec == asio::error::timed_out) return "handshake timed out";
  if (ec == asio::error::eof) return "connection closed by the peer";
  std::string text = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's packed code, as Redis's log shows it ("error:0A00010B:SSL routines::...").
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    text = buf;
  }
  return text;
}

}  // namespace darter::server::net
