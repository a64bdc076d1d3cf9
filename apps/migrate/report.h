// MigrationReport: everything darter-migrate tells the user at the end, as text or as
// JSON (--json). Each step fills its part; exit codes live here too so --help,
// docs/migrate.md and the code agree.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace darter::migrate {

// Documented in --help and docs/migrate.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitVerifyMismatch = 1,   // --verify found differences
  kExitUsage = 2,            // bad flags or arguments
  kExitSource = 3,           // source unreachable, AUTH refused, RDB file unreadable
  kExitSync = 4,             // the replica could not sync (corrupt RDB, unsupported type, timeout)
  kExitTarget = 5,           // target unreachable / embedded server failed / SAVE failed
  kExitCutover = 6,          // cutover could not reach equal offsets; the source was unpaused
  kExitTargetNotEmpty = 7,   // the target holds keys and --flush-target was not given
  kExitInterrupted = 130,    // SIGINT/SIGTERM before the first full sync completed
};

struct Mismatch {
  int db = 0;
  std::string key;
  std::string what;  // "missing on target", "type string vs list", "value: ...", "ttl 1000 vs -1"
};

struct VerifyResult {
  bool ran = false;
  bool sampled = false;
  uint64_t keys_checked = 0;
  uint64_t keys_rechecked = 0;  // differences seen once, checked again after catching up
  uint64_t mismatches = 0;      // persistent differences
  std::vector<Mismatch> first;  // the first --verify-show of them
  // db → type → count, on each side.
  std::map<int, std::map<std::string, uint64_t>> source_counts;
  std::map<int, std::map<std::string, uint64_t>> target_counts;
  double seconds = 0;
  bool no_touch = false;  // the source honoured CLIENT NO-TOUCH (7.2+): no access clock touched
  std::string error;  // verification could not run to the end, or checked nothing
};

struct CutoverResult {
  bool ran = false;
  bool ok = false;
  int64_t source_offset = -1;  // source master_repl_offset while writes were paused
  int64_t target_offset = -1;  // target's applied offset when it was detached
  int64_t source_offset_after = -1;  // re-read before unpausing: equal means nothing slipped through
  double pause_ms = 0;         // how long writes were paused on the source
  int check_rounds = 0;        // equal-offset checks until the source's offset stood still
  int64_t keepalive_bytes = 0;  // PING/GETACK bytes the paused source sent after the check
  bool target_detached = false;  // REPLICAOF NO ONE ran on the target
  bool leave_source = false;     // --cutover-leave-source
  std::string source_role;       // "replica of host:port" or "primary"
  bool source_following = false;  // the source's link to the target came up
  int64_t source_replica_offset = -1;
  std::vector<std::string> notes;
  std::string error;
};

// Periodic sample checks while following (--verify-every).
struct FollowChecks {
  uint64_t runs = 0;
  uint64_t keys_checked = 0;
  uint64_t mismatches = 0;        // summed over runs
  uint64_t last_mismatches = 0;
  std::string last_error;
  std::vector<Mismatch> first;    // from the runs that found differences
};

// --copy-acl: the source's users replayed on the target (copy_acl.h).
struct AclRefusal {
  std::string rule;
  std::string error;  // the target's reply
};

struct AclUserCopy {
  std::string name;
  bool copied = false;    // every rule applied; the user is as on the source
  bool disabled = false;  // enabled on the source, left `off` here (a refused denial)
  std::vector<AclRefusal> refusals;
  std::string error;  // the user could not be created at all
};

struct AclCopy {
  bool ran = false;
  std::vector<AclUserCopy> users;
  // The user darter-migrate itself authenticates as on the target: applied last, at the
  // end of the run, so its own connections keep working until then.
  std::string applied_last;
  std::string saved_to;    // the target's aclfile after ACL SAVE
  std::string save_error;  // ACL SAVE refused (no aclfile): the users live in memory only
};

// How darter-migrate talked to one side: TLS or not, and whether the peer's
// certificate was checked (false only with --tls-insecure / --target-tls-insecure).
struct TlsUse {
  bool enabled = false;
  bool verified = false;
  std::string trust;  // what the certificate was checked against ("system trust store", "CA file x.pem")
};

struct MigrationReport {
  std::string mode;  // "one-shot", "follow", "rdb-file"
  std::string source;  // host:port or file path
  std::string source_version;
  std::string target;  // "embedded 127.0.0.1:6379" or "darter 10.0.0.2:6379"
  TlsUse source_tls;   // darter-migrate's connections to the source, and the replica link's
  TlsUse target_tls;   // darter-migrate's connections to a --target
  int64_t source_keys = -1;
  int64_t keys_loaded = 0;  // keys on the target (INFO keyspace) when its full sync ended
  int64_t rdb_bytes = 0;
  double transfer_seconds = 0;
  double catchup_seconds = 0;
  double total_seconds = 0;
  int64_t full_syncs = 0;
  int64_t partial_syncs = 0;
  int64_t source_offset = -1;
  int64_t target_offset = -1;
  bool in_sync = false;
  std::string snapshot_path;  // where SAVE wrote, or empty
  std::string snapshot_error;
  VerifyResult verify;
  CutoverResult cutover;
  FollowChecks follow_checks;
  AclCopy acl;
  // What the target is when the tool exits: "primary", "replica of host:port (read-only)", ...
  std::string target_state;
  bool target_is_replica = false;  // still following the source: it rejects writes
  bool detached = false;           // --detach ran REPLICAOF NO ONE at the end
  std::vector<std::string> warnings;
  std::string error;
  int exit_code = kExitOk;

  std::string ToText() const;
  std::string ToJson() const;
};

std::string JsonEscape(const std::string& s);

}  // namespace darter::migrate
