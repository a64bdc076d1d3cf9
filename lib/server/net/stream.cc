#include "server/net/stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace darter::server::net {

Stream::Stream(Tcp socket, std::shared_ptr<asio::ssl::context> tls)
    : socket_(std::move(socket)), tls_ctx_(std::move(tls)) {
  if (tls_ctx_) ssl_ = std::make_unique<asio::ssl::stream<Tcp&>>(socket_, *tls_ctx_);
}

void Stream::Close() {
  boost::system::error_code ec;
  socket_.shutdown(Tcp::shutdown_both, ec);
  socket_.close(ec);
}

awaitable<boost::system::error_code> Stream::Handshake(asio::ssl::stream_base::handshake_type type,
                                                       std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  if (!ssl_) co_return ec;
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
  co_await ssl_->async_handshake(type, asio::redirect_error(use_awaitable, ec));
  *finished = true;
  timer.cancel();
  if (*timed_out) ec = asio::error::timed_out;
  co_return ec;
}

awaitable<boost::system::error_code> Stream::ServerHandshake(int verify_mode, std::chrono::milliseconds timeout) {
  if (ssl_) SSL_set_verify(ssl_->native_handle(), verify_mode, nullptr);
  co_return co_await Handshake(asio::ssl::stream_base::server, timeout);
}

awaitable<boost::system::error_code> Stream::ClientHandshake(const std::string& sni, bool verify,
                                                             std::chrono::milliseconds timeout) {
  if (ssl_) {
    SSL* s = ssl_->native_handle();
    SSL_set_verify(s, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    // SNI carries a host name, never an address (RFC 6066).
    boost::system::error_code ec;
    asio::ip::make_address(sni, ec);
    if (!sni.empty() && ec) SSL_set_tlsext_host_name(s, sni.c_str());
  }
  co_return co_await Handshake(asio::ssl::stream_base::client, timeout);
}

std::string DescribeStreamError(const boost::system::error_code& ec) {
  if (ec == asio::error::timed_out) return "handshake timed out";
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return "connection closed by the peer";
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
