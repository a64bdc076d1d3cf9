// notify-keyspace-events flag strings (Redis's keyspaceEventsStringToFlags /
// keyspaceEventsFlagsToString), and the shard's fast path: no sink call unless the
// event's class is enabled.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/keyspace_events.h"
#include "store/shard.h"

namespace darter::store {
namespace {

std::string Canonical(std::string_view s) {
  auto f = ParseKeyspaceEventFlags(s);
  REQUIRE(f.has_value());
  return FormatKeyspaceEventFlags(*f);
}

TEST_CASE("keyspace event flags parse and format as Redis 7.0 does") {
  CHECK(Canonical("") == "");
  CHECK(Canonical("KEA") == "AKE");
  CHECK(Canonical("Kx") == "xK");
  CHECK(Canonical("Kd") == "dK");
  CHECK(Canonical("g$lshzxetd") == "A");
  CHECK(Canonical("g$lshzxet") == "g$lshzxet");
  CHECK(Canonical("nEmK") == "nKEm");
  // A hides n (Redis prints only m, K and E after A), though the bit stays set.
  CHECK(Canonical("AKEmn") == "AKEm");
  CHECK((*ParseKeyspaceEventFlags("An") & kNotifyNew) != 0);
  CHECK(*ParseKeyspaceEventFlags("A") == kNotifyAll);
  CHECK((kNotifyAll & (kNotifyKeyMiss | kNotifyNew | kNotifyKeyspace | kNotifyKeyevent)) == 0);
  CHECK(*ParseKeyspaceEventFlags("KE") == (kNotifyKeyspace | kNotifyKeyevent));
  for (const char* bad : {"Q", "KEAq", "a", "k", "e ", "M", "N", "*"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseKeyspaceEventFlags(bad).has_value());
  }
  // Every single class character round-trips.
  for (char c : std::string("g$lshzxetdnKEm")) CHECK(Canonical(std::string(1, c)) == std::string(1, c));
}

struct RecordingSink : KeyspaceEventSink {
  std::vector<std::string> events;
  void Publish(uint32_t, std::string_view event, unsigned db, std::string_view key) override {
    events.push_back(std::string(event) + " " + std::to_string(db) + " " + std::string(key));
  }
};

TEST_CASE("Shard::NotifyKeyspaceEvent reaches the sink only for enabled classes") {
  RecordingSink sink;
  KeyspaceEventSink* before = GetKeyspaceEventSink();
  uint32_t flags_before = keyspace_event_flags.load();
  SetKeyspaceEventSink(&sink);
  Shard shard(0, 2);
  keyspace_event_flags.store(0);
  shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", 0, "k");
  shard.InsertNew(0, "a");
  CHECK(sink.events.empty());
  keyspace_event_flags.store(kNotifyKeyspace | kNotifyList | kNotifyNew | kNotifyKeyMiss | kNotifyExpired);
  shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", 0, "k");
  shard.NotifyKeyspaceEvent(kNotifyList, "lpush", 1, "l");
  shard.InsertNew(1, "b");
  CHECK(shard.FindForRead(0, "missing", 0) == nullptr);
  CHECK(shard.FindForReadNoTouch(0, "missing", 0, /*notify_miss=*/false) == nullptr);
  Slot* s = shard.FindLive(0, "a", 0);
  REQUIRE(s);
  shard.SetExpire(0, s, 5);
  CHECK(shard.FindForRead(0, "a", 10) == nullptr);  // expired lazily, then missed
  CHECK(sink.events == std::vector<std::string>{"lpush 1 l", "new 1 b", "keymiss 0 missing", "expired 0 a",
                                                 "keymiss 0 a"});
  keyspace_event_flags.store(flags_before);
  SetKeyspaceEventSink(before);
}

}  // namespace
}  // namespace darter::store
