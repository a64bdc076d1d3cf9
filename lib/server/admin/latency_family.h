// The latency monitor (Redis 7.0's latency.c): LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR/
// HELP, and LATENCY HISTOGRAM over the per-command histograms of command_stats.h
// (docs/introspection.md).
//
// Events. A sample is kept when an event lasted at least latency-monitor-threshold ms
// (0: the monitor is off): "command" for a command without the fast flag, "fast-command"
// for one with it (Redis's rule), "expire-cycle" for a shard's active-expiry tick. Each
// event keeps its last 160 samples, one per second (a second's worst), and its all-time
// maximum.
//
// Thread-safety: one mutex guards the events; a sample takes it only when it is over the
// threshold.
#pragma once

#include <cstdint>
#include <string_view>

#include "store/command_table.h"

namespace darter::server {

void RegisterLatencyFamily(store::CommandTable& table);

// Adds a sample of `latency_ms` to `event` if the threshold is set and reached.
void LatencyAddSampleIfNeeded(std::string_view event, int64_t latency_ms);
// The command's event ("command" or "fast-command") for a command that took `latency_ms`.
void LatencyOfferCommand(const store::CommandSpec& spec, int64_t latency_ms);

}  // namespace darter::server
