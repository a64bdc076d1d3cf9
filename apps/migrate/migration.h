// Migration: the whole run of darter-migrate — connect to the source (or open the RDB
// file), start or reach the target, make it a replica, watch the full sync with a
// progress display, catch up, then follow / cut over / verify / save as asked, and
// return the report with its exit code.
//
// Control from outside (signals, the `cutover` command on stdin) goes through the
// atomics in MigrationControl, polled by the main loop.
//
// Thread-safety: Run on one thread; MigrationControl from any.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "migrate/report.h"
#include "migrate/source_uri.h"
#include "server/core/config.h"

namespace darter::migrate {

struct MigrationControl {
  std::atomic<bool> interrupt{false};          // SIGINT/SIGTERM
  std::atomic<bool> cutover_requested{false};  // SIGUSR1 or `cutover` typed on stdin
};

struct MigrationOptions {
  std::optional<SourceUri> source;  // live source, or
  std::string rdb_file;             // an RDB file
  std::optional<SourceUri> target;  // a running darter-server; empty: embedded
  server::ServerOptions embedded;   // the embedded server's options
  bool follow = false;
  bool cutover = false;
  bool verify = false;
  uint64_t verify_sample = 0;
  int64_t ttl_tolerance_ms = 2000;
  size_t verify_show = 20;
  bool save = true;
  bool json = false;
  bool tty = false;
  bool stdin_commands = false;      // read `cutover` lines from stdin (a terminal)
  int pause_ms = 10000;
  bool cutover_leave_source = false;  // leave the source a writable primary after the cutover
  std::string target_address;         // host:port the source uses to reach the target ("" = derive)
  double source_sync_timeout_s = 60;  // cutover: wait for the source to follow the target
  bool flush_target = false;          // allow replacing a target that holds keys
  bool detach = false;                // REPLICAOF NO ONE on the target at the end, whatever happened
  double verify_every_s = 600;        // --follow: sample check period (0: off)
  uint64_t verify_every_sample = 100;
  double stall_timeout_s = 60;
  double catchup_timeout_s = 120;
  double progress_interval_s = 5;
  std::string rdb_listen = "127.0.0.1";
  bool copy_acl = false;  // replay the source's ACL users on the target (copy_acl.h)
  int status_port = -1;   // --status-port: serve /metrics and /status here (0: a free port; -1: off)
  std::string status_bind = "127.0.0.1";
};

MigrationReport RunMigration(const MigrationOptions& options, MigrationControl& control);

}  // namespace darter::migrate
