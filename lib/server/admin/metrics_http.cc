#include "server/admin/metrics_http.h"

#include <chrono>
#include <vector>

#include "server/admin/info_text.h"
#include "server/admin/prometheus_text.h"
#include "server/core/http_request.h"
#include "server/core/observer_hooks.h"

namespace darter::server {

namespace {

// A --metrics-port client that has not sent its whole request head by then is dropped.
constexpr std::chrono::seconds kMetricsRequestTimeout{10};
constexpr std::string_view kPlain = "text/plain; charset=utf-8";

// A method the rule does not take: "POST /metrics HTTP/1.1" and the like.
bool OtherMethodRequestLine(std::string_view bytes) {
  size_t eol = bytes.find('\n');
  std::string_view line = bytes.substr(0, eol);
  size_t sp = line.find(' ');
  return sp != std::string_view::npos && sp > 0 && line.find(" HTTP/1.") != std::string_view::npos;
}

// The texts live outside the coroutines: GCC 12 cannot keep a string literal argument
// alive across a coroutine's frame ("array used as initializer").
std::string NotFoundResponse() { return HttpResponse(404, kPlain, "not found: the metrics are at /metrics\n"); }
std::string ForbiddenResponse() {
  return HttpResponse(403, kPlain,
                      "the default user needs a password: scrape --metrics-port instead (docs/metrics.md)\n");
}
std::string TooLargeResponse() { return HttpHeadTooLargeResponse(); }
std::string NotGetResponse(std::string_view bytes) {
  return OtherMethodRequestLine(bytes) ? HttpResponse(405, kPlain, "only GET is served\n")
                                       : HttpResponse(400, kPlain, "not an HTTP/1.x GET request\n");
}

}  // namespace

awaitable<std::string> MetricsHttpGet(Server& srv, std::string path, bool authorized) {
  if (path != "/metrics") co_return NotFoundResponse();
  if (!authorized) co_return ForbiddenResponse();
  std::vector<std::string> sections = {"everything"};
  std::string info = co_await CollectInfo(srv, std::move(sections));
  co_return HttpResponse(200, kPrometheusContentType, InfoToPrometheus(info));
}

void InstallMetricsHttp() { GetObserverHooks().http_get = MetricsHttpGet; }

awaitable<void> ServeMetricsPortClient(Server& srv, asio::ip::tcp::socket socket) {
  asio::steady_timer deadline(socket.get_executor());
  deadline.expires_after(kMetricsRequestTimeout);
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
        response = co_await MetricsHttpGet(srv, head.path, /*authorized=*/true);
        break;
      case HttpDetect::kTooLarge:
        response = TooLargeResponse();
        break;
      case HttpDetect::kNotHttp:
        response = NotGetResponse(bytes);
        break;
      case HttpDetect::kNeedMore:
        if (have == buf.size()) response = TooLargeResponse();
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
