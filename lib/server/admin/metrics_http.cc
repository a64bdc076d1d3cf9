#include "server/admin/metrics_http.h"

#include <vector>

#include "server/admin/info_text.h"
#include "server/admin/prometheus_text.h"
#include "server/core/http_request.h"
#include "server/core/http_session.h"
#include "server/core/observer_hooks.h"

namespace darter::server {

namespace {

constexpr std::string_view kPlain = "text/plain; charset=utf-8";

// The texts live outside the coroutine: GCC 12 cannot keep a string literal argument
// alive across a coroutine's frame ("array used as initializer").
std::string NotFoundResponse() { return HttpResponse(404, kPlain, "not found: the metrics are at /metrics\n"); }
std::string ForbiddenResponse() {
  return HttpResponse(403, kPlain,
                      "the default user needs a password: scrape --metrics-port instead (docs/metrics.md)\n");
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
  co_await ServeOneHttpRequest(std::move(socket), [&srv](std::string path) {
    return MetricsHttpGet(srv, std::move(path), /*authorized=*/true);
  });
}

}  // namespace darter::server
