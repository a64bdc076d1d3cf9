#include "server/core/command_stats.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

using darter::server::CommandStatsSet;
using darter::server::InfoPercentilesText;
using darter::server::LatencyHistogram;
using darter::server::SetInfoPercentiles;

TEST_CASE("LatencyHistogram buckets: exact below 256 ns, then 128 per power of two") {
  for (uint64_t v : {0ull, 1ull, 255ull}) {
    CHECK(LatencyHistogram::IndexOf(v) == v);
    CHECK(LatencyHistogram::HighestOf(LatencyHistogram::IndexOf(v)) == v);
  }
  // Every value lies in its bucket, and a bucket is at most 1/128 of its lowest value.
  for (uint64_t v = 256; v < 2000000000ull; v = v * 3 / 2 + 7) {
    const size_t i = LatencyHistogram::IndexOf(v);
    const uint64_t lo = LatencyHistogram::LowestOf(i), hi = LatencyHistogram::HighestOf(i);
    CAPTURE(v);
    CHECK(lo <= v);
    CHECK(v <= hi);
    CHECK((hi - lo + 1) * 128 <= lo);
    CHECK(LatencyHistogram::IndexOf(hi + 1) == i + 1);
  }
  // Redis's HDR reports these as its highest equivalent values.
  CHECK(LatencyHistogram::HighestOf(LatencyHistogram::IndexOf(1000)) == 1003);
  CHECK(LatencyHistogram::HighestOf(LatencyHistogram::IndexOf(1024)) == 1031);
  CHECK(LatencyHistogram::HighestOf(LatencyHistogram::IndexOf(32768)) == 33023);
}

TEST_CASE("LatencyHistogram percentiles and LATENCY HISTOGRAM rows") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.ValueAtPercentile(50) == 0);
  CHECK(h.CumulativePowersOfTwo().empty());
  h.Record(1000);    // 1 µs
  h.Record(5000);    // 5 µs
  h.Record(20000);   // 20 µs
  h.Record(3000000000ull);  // over 1 s: clamped to 1 s
  CHECK(h.count() == 4);
  CHECK(h.ValueAtPercentile(0) == 1003);
  CHECK(h.ValueAtPercentile(50) == LatencyHistogram::HighestOf(LatencyHistogram::IndexOf(5000)));
  CHECK(h.ValueAtPercentile(100) == LatencyHistogram::HighestOf(LatencyHistogram::IndexOf(1000000000)));
  auto rows = h.CumulativePowersOfTwo();
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == std::pair<uint64_t, uint64_t>{1, 1});
  CHECK(rows[1] == std::pair<uint64_t, uint64_t>{8, 2});
  CHECK(rows[2] == std::pair<uint64_t, uint64_t>{33, 3});
  CHECK(rows[3].second == 4);
  LatencyHistogram other;
  other.Record(1000);
  h.Merge(other);
  CHECK(h.count() == 5);
  CHECK(h.CumulativePowersOfTwo()[0] == std::pair<uint64_t, uint64_t>{1, 2});
}

TEST_CASE("Error codes merge with Redis's cap of 128") {
  CommandStatsSet a, b;
  for (int i = 0; i < 200; ++i) a.errors["E" + std::to_string(i)] = 1;
  b.MergeFrom(a);
  CHECK(b.errors.size() == 128);
}

TEST_CASE("latency-tracking-info-percentiles parsing") {
  CHECK(SetInfoPercentiles("50 99.90 100").empty());
  CHECK(InfoPercentilesText() == "50 99.9 100");
  CHECK(SetInfoPercentiles("").empty());
  CHECK(InfoPercentilesText().empty());
  CHECK(SetInfoPercentiles("50 abc") == "Invalid latency-tracking-info-percentiles parameters");
  CHECK(SetInfoPercentiles("101") == "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]");
  CHECK(InfoPercentilesText().empty());  // unchanged by the failures
  CHECK(SetInfoPercentiles("50 99 99.9").empty());
}
