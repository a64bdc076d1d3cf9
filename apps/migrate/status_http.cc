#include "migrate/status_http.h"

#include "migrate/report.h"
#include "server/admin/prometheus_text.h"
#include "server/core/http_request.h"
#include "server/core/http_session.h"

namespace darter::migrate {

namespace asio = server::asio;
using server::MetricType;

namespace {

constexpr Phase kPhases[] = {Phase::kConnecting, Phase::kWaitingSnapshot, Phase::kTransfer,
                             Phase::kCatchUp,    Phase::kInSync,          Phase::kCutover,
                             Phase::kVerify,     Phase::kSave,            Phase::kDone};

// JSON numbers are written as the metrics are (finite values only reach here).
std::string Number(double v) { return server::FormatMetricValue(v); }

// The response to a GET of `path`; outside the coroutine (GCC 12 and string literals).
std::string Answer(const StatusBoard& board, const std::string& path) {
  if (path == "/metrics") return server::HttpResponse(200, server::kPrometheusContentType, board.MetricsText());
  if (path == "/status") return server::HttpResponse(200, "application/json", board.Json());
  return server::HttpResponse(404, "text/plain; charset=utf-8", "not found: try /metrics or /status\n");
}

}  // namespace

void StatusBoard::SetRun(const std::string& mode, const std::string& source) {
  std::lock_guard lock(mu_);
  mode_ = mode;
  source_ = source;
}

void StatusBoard::Publish(const ProgressSample& s, double elapsed_s) {
  std::lock_guard lock(mu_);
  sample_ = s;
  elapsed_s_ = elapsed_s;
}

std::string StatusBoard::MetricsText() const {
  std::lock_guard lock(mu_);
  const ProgressSample& s = sample_;
  server::PrometheusText p;
  const MetricType g = MetricType::kGauge;
  p.Add("darter_migrate_info", g, "The migration run", 1, {{"mode", mode_}, {"source", source_}});
  // One series per phase, 1 for the current one (a state set).
  for (Phase ph : kPhases)
    p.Add("darter_migrate_phase", g, "1 for the phase the migration is in", ph == s.phase ? 1 : 0,
          {{"phase", PhaseName(ph)}});
  p.Add("darter_migrate_elapsed_seconds", g, "Seconds since the run started", elapsed_s_);
  p.Add("darter_migrate_keys_loaded", g, "Keys the target loaded from the full sync", static_cast<double>(s.keys));
  if (s.keys_expected >= 0)
    p.Add("darter_migrate_keys_expected", g, "Keys the source holds", static_cast<double>(s.keys_expected));
  p.Add("darter_migrate_bytes_received", g, "RDB bytes of the full sync received so far",
        static_cast<double>(s.bytes));
  if (s.bytes_total >= 0)
    p.Add("darter_migrate_bytes_total", g, "The full sync's RDB size (absent for a diskless transfer)",
          static_cast<double>(s.bytes_total));
  p.Add("darter_migrate_bytes_per_second", g, "Full sync transfer rate", s.bytes_per_s);
  p.Add("darter_migrate_keys_per_second", g, "Full sync load rate", s.keys_per_s);
  // Unknown figures are left out rather than given a sentinel value.
  if (s.eta_s >= 0) p.Add("darter_migrate_eta_seconds", g, "Estimated seconds until the full sync ends", s.eta_s);
  if (s.lag_bytes >= 0)
    p.Add("darter_migrate_lag_bytes", g, "Source replication offset less the target's",
          static_cast<double>(s.lag_bytes));
  if (s.lag_s >= 0) p.Add("darter_migrate_lag_seconds", g, "Age of the newest source offset the target reached", s.lag_s);
  return p.Render();
}

std::string StatusBoard::Json() const {
  std::lock_guard lock(mu_);
  const ProgressSample& s = sample_;
  auto opt = [](bool known, double v) { return known ? Number(v) : std::string("null"); };
  std::string o = "{\"mode\":" + JsonEscape(mode_) + ",\"source\":" + JsonEscape(source_) +
                  ",\"phase\":" + JsonEscape(PhaseName(s.phase)) + ",\"elapsed_s\":" + Number(elapsed_s_) +
                  ",\"keys_loaded\":" + std::to_string(s.keys) +
                  ",\"keys_expected\":" + opt(s.keys_expected >= 0, static_cast<double>(s.keys_expected)) +
                  ",\"bytes_received\":" + std::to_string(s.bytes) +
                  ",\"bytes_total\":" + opt(s.bytes_total >= 0, static_cast<double>(s.bytes_total)) +
                  ",\"bytes_per_s\":" + Number(s.bytes_per_s) + ",\"keys_per_s\":" + Number(s.keys_per_s) +
                  ",\"eta_s\":" + opt(s.eta_s >= 0, s.eta_s) +
                  ",\"lag_bytes\":" + opt(s.lag_bytes >= 0, static_cast<double>(s.lag_bytes)) +
                  ",\"lag_s\":" + opt(s.lag_s >= 0, s.lag_s) + ",\"note\":" + JsonEscape(s.note) + "}\n";
  return o;
}

std::optional<std::string> StatusHttpServer::Start(const std::string& bind, int port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind, ec);
  if (ec) return "invalid --status-bind '" + bind + "': " + ec.message();
  asio::ip::tcp::endpoint ep(address, static_cast<uint16_t>(port));
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(ctx_);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + bind + ":" + std::to_string(port) + " (--status-port): " + ec.message();
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(ctx_, AcceptLoop(), asio::detached);
  thread_ = std::thread([this] { ctx_.run(); });
  return std::nullopt;
}

void StatusHttpServer::Stop() {
  if (!thread_.joinable()) return;
  ctx_.stop();
  thread_.join();
}

server::awaitable<void> StatusHttpServer::AcceptLoop() {
  while (acceptor_->is_open()) {
    boost::system::error_code ec;
    asio::ip::tcp::socket socket =
        co_await acceptor_->async_accept(asio::redirect_error(server::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    // Each request is its own coroutine on this thread, bounded in size and time.
    asio::co_spawn(ctx_,
                   server::ServeOneHttpRequest(std::move(socket),
                                               [this](std::string path) -> server::awaitable<std::string> {
                                                 co_return Answer(board_, path);
                                               }),
                   asio::detached);
  }
}

}  // namespace darter::migrate
