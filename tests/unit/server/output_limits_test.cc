#include "server/core/output_limits.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using darter::server::ClientClass;
using darter::server::FormatOutputBufferLimits;
using darter::server::OutputBufferUsage;
using darter::server::OutputLimitTracker;
using darter::server::SetOutputBufferLimits;

namespace {

// The limits are process-wide: every case puts Redis's defaults back.
struct RestoreDefaults {
  ~RestoreDefaults() { SetOutputBufferLimits("normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60"); }
};

}  // namespace

TEST_CASE("output buffer usage leaves out Redis's uncounted 16 KB") {
  CHECK(OutputBufferUsage(0) == 0);
  CHECK(OutputBufferUsage(16384) == 0);
  CHECK(OutputBufferUsage(16385) == 1);
  CHECK(OutputBufferUsage(110017) == 110017 - 16384);
}

TEST_CASE("hard limit: reached at the limit, not below; 0 disables it") {
  RestoreDefaults restore;
  OutputLimitTracker t;
  CHECK_FALSE(t.Exceeded(ClientClass::kNormal, 1ull << 40, 0));  // normal 0 0 0: unlimited
  REQUIRE_FALSE(SetOutputBufferLimits("normal 100000 0 0").has_value());
  CHECK_FALSE(t.Exceeded(ClientClass::kNormal, 99999, 0));
  CHECK(t.Exceeded(ClientClass::kNormal, 100000, 0));
  CHECK_FALSE(t.Exceeded(ClientClass::kPubSub, 100000, 0));  // other classes keep theirs
}

TEST_CASE("soft limit: exceeded only once it has held for more than soft_seconds") {
  RestoreDefaults restore;
  REQUIRE_FALSE(SetOutputBufferLimits("pubsub 0 1000 2").has_value());
  OutputLimitTracker t;
  CHECK_FALSE(t.Exceeded(ClientClass::kPubSub, 1000, 10000));  // starts the clock
  CHECK_FALSE(t.Exceeded(ClientClass::kPubSub, 5000, 12999));  // 2.999 s: not more than 2
  CHECK_FALSE(t.Exceeded(ClientClass::kPubSub, 999, 13500));   // back under: clock reset
  CHECK_FALSE(t.Exceeded(ClientClass::kPubSub, 1000, 14000));
  CHECK_FALSE(t.Exceeded(ClientClass::kPubSub, 1000, 16999));
  CHECK(t.Exceeded(ClientClass::kPubSub, 1000, 17000));  // 3 s since 14000
}

TEST_CASE("CONFIG SET client-output-buffer-limit: all groups valid or nothing changes") {
  RestoreDefaults restore;
  const std::string before = FormatOutputBufferLimits();
  CHECK(SetOutputBufferLimits("normal 1mb 0 0 pubsub x 0 0") ==
        std::optional<std::string>("Error in hard, soft or soft_seconds setting in buffer limit configuration."));
  CHECK(FormatOutputBufferLimits() == before);
  CHECK(SetOutputBufferLimits("replica 1mb 512kb 5").has_value() == false);
  CHECK(FormatOutputBufferLimits() == "normal 0 0 0 slave 1048576 524288 5 pubsub 33554432 8388608 60");
}
