// Prometheus's text exposition format (version 0.0.4), and the INFO fields rendered in it
// under the names redis_exporter gives them (docs/metrics.md), so that dashboards and
// alerts written for redis_exporter read darter-server's /metrics unchanged.
//
// Thread-safety: a PrometheusText requires external synchronization; InfoToPrometheus is
// a pure function.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace darter::server {

// The Content-Type of the text format.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kGauge, kCounter, kSummary, kUntyped };

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Samples gathered by family: each family's HELP and TYPE once, then its samples, in the
// order the families were first named (the format wants a family's samples together).
class PrometheusText {
 public:
  // REQUIRES: `name` is a valid metric name; for a summary, `name` is the family and the
  // caller adds `name`, `name_sum` and `name_count` samples through Sample().
  void Add(std::string_view name, MetricType type, std::string_view help, double value,
           const MetricLabels& labels = {});
  // A sample of family `family` under its own name (a summary's _sum / _count).
  void Sample(std::string_view family, std::string_view sample_name, double value, const MetricLabels& labels);
  void Declare(std::string_view name, MetricType type, std::string_view help);
  std::string Render() const;

 private:
  struct Family {
    MetricType type;
    std::string help;
    std::vector<std::string> samples;  // rendered lines
  };
  std::vector<std::string> order_;
  std::map<std::string, Family, std::less<>> families_;
};

// A sample value: integers exactly, other values in the fewest digits that read back
// the same; NaN, +Inf, -Inf as the format spells them.
std::string FormatMetricValue(double v);

// Every metric darter-server exports, from the text of INFO everything (info_text.h).
std::string InfoToPrometheus(std::string_view info);

}  // namespace darter::server
