#include "server/core/http_session.h"

#include <vector>

namespace darter::server {

namespace {

// "POST /metrics HTTP/1.1" and the like: an HTTP request line with another method.
bool OtherMethodRequestLine(std::string_view bytes) {
  std::string_view line = bytes.substr(0, bytes.find('\n'));
  size_t sp = line.find(' ');
  return sp != std::string_view::npos && sp > 0 && line.find(" HTTP/1.") != std::string_view::npos;
}

// Outside the coroutine: GCC 12 cannot keep a string literal argument alive across a
// coroutine's frame.
std::string NotGetResponse(std::string_view bytes) {
  return OtherMethodRequestLine(bytes) ? HttpResponse(405, "text/plain; charset=utf-8", "only GET is served\n")
                                       : HttpResponse(400, "text/plain; charset=utf-8", "not an HTTP/1.x GET request\n");
}

}  // namespace

awaitable<void> ServeOneHttpRequest(asio::ip::tcp::socket socket, HttpGetHandler answer) {
  asio::steady_timer deadline(socket.get_executor());
  deadline.expires_after(kHttpRequestTimeout);
  deadline.async_wait([&socket](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (!ec) socket.close(ignored);
  });
  std::vector<char> buf(kMaxHttpHead);
  size_t have = 0;
  std::string response;
  while (response.empty()) {
    boost::system::error_code ec;
    size_t n = co_await socket.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                               asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    have += n;
    std::string_view bytes(buf.data(), have);
    HttpRequestHead head = DetectHttpRequest(bytes);
    switch (head.kind) {
      case HttpDetect::kHttp:
        response = co_await answer(head.path);
        break;
      case HttpDetect::kTooLarge:
        response = HttpHeadTooLargeResponse();
        break;
      case HttpDetect::kNotHttp:
        response = NotGetResponse(bytes);
        break;
      case HttpDetect::kNeedMore:
        if (have == buf.size()) response = HttpHeadTooLargeResponse();
        break;
    }
  }
  // The deadline covers the write too: a client that does not read is dropped.
  if (!response.empty() && socket.is_open()) {
    boost::system::error_code ec;
    co_await asio::async_write(socket, asio::buffer(response), asio::redirect_error(use_awaitable, ec));
  }
  deadline.cancel();
  boost::system::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace darter::server
