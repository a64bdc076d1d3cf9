#include "migrate/migration.h"

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <tuple>

#include "migrate/copy_acl.h"
#include "migrate/cutover.h"
#include "migrate/progress.h"
#include "migrate/rdb_file_primary.h"
#include "migrate/status_http.h"
#include "migrate/redis_conn.h"
#include "migrate/target.h"
#include "migrate/verify.h"

namespace darter::migrate {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

bool Has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

const char kUseRdbInstead[] =
    "; export an RDB file instead (BGSAVE, or the service's backup/export) and run darter-migrate --rdb FILE";

// A replica error after which retrying cannot help, turned into what to tell the user
// and the exit code; nullopt when the replica should keep retrying.
std::optional<std::pair<int, std::string>> FatalReplicaError(const std::string& e) {
  if (Has(e, "AUTH refused") || Has(e, "WRONGPASS") || Has(e, "-NOAUTH"))
    return std::pair{kExitSource, "the source refused the replica's credentials: " + e};
  if (Has(e, "refused PSYNC") && (Has(e, "unknown command") || Has(e, "NOPERM")))
    return std::pair{kExitSync, std::string(Has(e, "NOPERM") ? "the source user may not run PSYNC (ACL: it needs "
                                                                 "+psync +replconf +ping): "
                                                               : "source refuses PSYNC and SYNC (renamed or disabled, "
                                                                 "as on managed services): ") +
                                    e + kUseRdbInstead};
  if (Has(e, "NOPERM")) return std::pair{kExitSource, "the source refused the replica's credentials: " + e};
  if (Has(e, "unsupported RDB version") || Has(e, "unsupported Valkey RDB version"))
    return std::pair{kExitSync, "the source's RDB format is newer than this build of Darter reads: " + e +
                                    "; use a Darter build that reads it, or migrate from a source running an older "
                                    "Redis (its RDB version)"};
  if (Has(e, "module value") || Has(e, "module type"))
    return std::pair{kExitSync, "the source holds a module data type, which Darter cannot load: " + e +
                                    "; delete or convert those keys on the source first"};
  if (Has(e, "not supported") || Has(e, "RDB from the primary is invalid"))
    return std::pair{kExitSync, "the full sync cannot succeed: " + e};
  return std::nullopt;
}

TlsUse DescribeTls(const TlsSettings& tls) {
  TlsUse u;
  u.enabled = tls.enabled;
  u.verified = tls.enabled && !tls.insecure;
  if (u.verified) {
    if (tls.system_store()) u.trust = "system trust store";
    else if (!tls.ca_cert_file.empty()) u.trust = "CA file " + tls.ca_cert_file;
    else u.trust = "CA directory " + tls.ca_cert_dir;
    u.trust += " (name checked: " + std::string(tls.sni.empty() ? "the host" : tls.sni) + ")";
  }
  return u;
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Reads "cutover" (or "c") typed on a terminal; never blocks.
bool StdinAsksCutover(std::string& pending) {
  pollfd pfd{0, POLLIN, 0};
  while (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
    char buf[256];
    ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) return false;
    pending.append(buf, static_cast<size_t>(n));
  }
  size_t eol;
  while ((eol = pending.find('\n')) != std::string::npos) {
    std::string line = pending.substr(0, eol);
    pending.erase(0, eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line == "cutover" || line == "c") return true;
  }
  return false;
}

class Run {
 public:
  Run(const MigrationOptions& o, MigrationControl& c)
      : o_(o), c_(c), printer_(o.json ? stderr : stdout, o.tty, o.progress_interval_s) {}

  MigrationReport Go() {
    t0_ = Clock::now();
    report_.mode = !o_.rdb_file.empty() ? "rdb-file" : o_.follow ? "follow" : "one-shot";
    if (StartStatusPage() && Prepare() && StartSync() && WaitFullSync() && AfterSync()) {
    }
    Finish();
    return report_;
  }

 private:
  bool Fail(int code, const std::string& msg) {
    report_.exit_code = code;
    report_.error = msg;
    return false;
  }

  // --status-port: the progress as /metrics and /status (status_http.h), from the start.
  bool StartStatusPage() {
    if (o_.status_port < 0) return true;
    board_.SetRun(report_.mode, o_.source ? o_.source->Display() : o_.rdb_file);
    status_ = std::make_unique<StatusHttpServer>(board_);
    if (auto err = status_->Start(o_.status_bind, o_.status_port)) return Fail(kExitUsage, *err);
    printer_.Message("status page: http://" + o_.status_bind + ":" + std::to_string(status_->port()) +
                     "/metrics (and /status, JSON)");
    return true;
  }

  // Every sample the display gets goes to the status page too.
  void Show(const ProgressSample& s, double now) {
    printer_.Update(s, now);
    board_.Publish(s, now);
  }

  bool Prepare() {
    if (o_.source) {
      report_.source = o_.source->Display();
      report_.source_tls = DescribeTls(o_.source->tls);
      if (o_.source->tls.enabled && o_.source->tls.insecure)
        report_.warnings.push_back("the source's TLS certificate was NOT verified (--tls-insecure): the data came from "
                                   "whoever answered at " + o_.source->Display());
      if (auto err = src_.Connect("source " + o_.source->Display(), o_.source->host, o_.source->port, o_.source->user,
                                  o_.source->password, o_.source->tls))
        return Fail(kExitSource, *err);
      auto server = src_.Info("server");
      report_.source_version = InfoStr(server, "redis_version");
      auto repl = src_.Info("replication");
      if (InfoStr(repl, "role") == "slave")
        report_.warnings.push_back("the source is itself a replica of " + InfoStr(repl, "master_host") + ":" +
                                   InfoStr(repl, "master_port") + "; a cutover needs its primary paused instead");
      int64_t keys = 0;
      for (const auto& [k, v] : src_.Info("keyspace"))
        if (k.rfind("db", 0) == 0 && v.rfind("keys=", 0) == 0) keys += std::atoll(v.c_str() + 5);
      report_.source_keys = keys;
      // Pre-flight facts worth saying before a long transfer.
      ReplyPtr delay = src_.Cmd({"CONFIG", "GET", "repl-diskless-sync-delay"});
      ReplyPtr diskless = src_.Cmd({"CONFIG", "GET", "repl-diskless-sync"});
      if (delay && delay->type == REDIS_REPLY_ARRAY && delay->elements == 2 && diskless &&
          diskless->type == REDIS_REPLY_ARRAY && diskless->elements == 2 && ReplyText(diskless->element[1]) == "yes") {
        int d = std::atoi(ReplyText(delay->element[1]).c_str());
        if (d > 0)
          printer_.Message("note: the source waits repl-diskless-sync-delay " + std::to_string(d) +
                           " s before it starts a diskless transfer");
      }
      ReplyPtr dbs = src_.Cmd({"CONFIG", "GET", "databases"});
      if (dbs && dbs->type == REDIS_REPLY_ARRAY && dbs->elements == 2)
        source_dbs_ = static_cast<unsigned>(std::atoi(ReplyText(dbs->element[1]).c_str()));
      // The replica speaks PSYNC only. COMMAND INFO answers nil for a renamed command; a
      // refused COMMAND proves nothing (the replica's own PSYNC will tell).
      ReplyPtr cmds = src_.Cmd({"COMMAND", "INFO", "psync", "sync"});
      if (cmds && cmds->type == REDIS_REPLY_ARRAY && cmds->elements == 2 &&
          cmds->element[0]->type == REDIS_REPLY_NIL) {
        bool sync_too = cmds->element[1]->type == REDIS_REPLY_NIL;
        return Fail(kExitSync, std::string(sync_too ? "source refuses PSYNC and SYNC" : "source refuses PSYNC") +
                                   " (renamed or disabled, as on managed services): COMMAND INFO knows no 'psync' "
                                   "on " + report_.source + "; Darter replicates only with PSYNC" + kUseRdbInstead);
      }
    } else {
      report_.source = o_.rdb_file;
      rdb_primary_ = std::make_unique<RdbFilePrimary>(o_.rdb_file, o_.rdb_listen);
      if (auto err = rdb_primary_->Start()) return Fail(kExitSource, *err);
    }
    std::string err;
    if (o_.target) {
      report_.target_tls = DescribeTls(o_.target->tls);
      if (o_.target->tls.enabled && o_.target->tls.insecure)
        report_.warnings.push_back("the target's TLS certificate was NOT verified (--target-tls-insecure)");
      target_ = Target::ConnectRemote(*o_.target, &err);
      if (!target_) return Fail(kExitTarget, err);
    } else {
      server::ServerOptions so = o_.embedded;
      if (source_dbs_ > so.dbnum) so.dbnum = source_dbs_;
      if (o_.source) {
        so.masterauth = o_.source->password;
        so.masteruser = o_.source->user;
        EmbeddedReplicaTls(o_.source->tls, &so);
      }
      // --copy-acl keeps the users where the snapshot is, for ACL SAVE at the end.
      if (o_.copy_acl) so.aclfile = (std::filesystem::path(so.dir) / "users.acl").string();
      target_ = Target::StartEmbedded(so, &err);
      if (!target_) return Fail(kExitTarget, err);
    }
    report_.target = target_->Describe();
    if (o_.copy_acl && o_.source && !CopyUsers()) return false;
    printer_.Message("source " + report_.source + (report_.source_version.empty() ? "" : " (redis " + report_.source_version + ")") +
                     (report_.source_keys >= 0 ? ", " + std::to_string(report_.source_keys) + " keys" : "") +
                     " -> " + report_.target);
    return true;
  }

  bool StartSync() {
    ReplStatus before = target_->Status();
    if (!before.ok) return Fail(kExitTarget, before.error);
    baseline_full_ = before.full_syncs;
    baseline_partial_ = before.partial_syncs;
    // A full sync replaces everything the target holds. Resuming into a target that
    // already follows this very source replaces nothing of anyone else's.
    bool resuming = o_.source && before.is_replica && before.master_host == o_.source->host &&
                    before.master_port == o_.source->port;
    if (!resuming) {
      std::string per_db;
      int64_t keys = target_->KeyCount(&per_db);
      if (keys > 0 && !o_.flush_target)
        return Fail(kExitTargetNotEmpty,
                    "the target " + target_->Describe() + " already holds " + std::to_string(keys) + " keys (" + per_db +
                        "); the full sync would delete them all. Use an empty target" +
                        (target_->embedded() ? " (another --dir: this one has a snapshot)" : "") +
                        ", or give --flush-target to replace them");
      if (keys > 0) printer_.Message("--flush-target: the full sync replaces the target's " + std::to_string(keys) + " keys");
    }
    // The replica's last error may be older than this run (REPLICAOF to the same primary
    // keeps the link and its error): such an error is ignored until it changes.
    stale_error_ = before.last_error;
    bool already = false;
    std::optional<std::string> err;
    if (o_.source) {
      err = target_->ReplicaOf(o_.source->host, o_.source->port, o_.source->user, o_.source->password, o_.source->tls,
                               &already);
    } else {
      std::string host = o_.rdb_listen == "0.0.0.0" ? "127.0.0.1" : o_.rdb_listen;
      err = target_->ReplicaOf(host, rdb_primary_->port(), "", "", TlsSettings(), &already);
    }
    if (err) return Fail(kExitTarget, *err);
    already_ = already;
    if (!already) stale_error_.clear();  // a new link starts without an error
    sync_started_ = Clock::now();
    return true;
  }

  // Samples both sides and updates the display; returns the target's status.
  ReplStatus Poll(Phase forced = Phase::kDone) {
    ReplStatus st = target_->Status();
    double now = Seconds(t0_);
    ProgressSample s;
    s.keys_expected = report_.source_keys;
    if (st.sync_in_progress) {
      if (!saw_transfer_) {
        saw_transfer_ = true;
        transfer_started_ = Clock::now();
      }
      double dt = Seconds(transfer_started_);
      s.phase = Phase::kTransfer;
      s.keys = st.sync_keys;
      s.bytes = st.sync_read_bytes;
      s.bytes_total = st.sync_total_bytes;
      s.bytes_per_s = dt > 0.2 ? s.bytes / dt : 0;
      s.keys_per_s = dt > 0.2 ? s.keys / dt : 0;
      if (s.bytes_total > 0 && s.bytes_per_s > 0) s.eta_s = (s.bytes_total - s.bytes) / s.bytes_per_s;
      else if (s.keys_expected > 0 && s.keys_per_s > 0) s.eta_s = std::max<double>(0, s.keys_expected - s.keys) / s.keys_per_s;
      last_bytes_ = std::max(last_bytes_, s.bytes);
      last_keys_ = std::max(last_keys_, s.keys);
    } else if (!st.link_up) {
      s.phase = Phase::kConnecting;
    } else {
      s.keys = std::max(last_keys_, st.sync_keys);
      s.bytes = std::max(last_bytes_, st.last_sync_bytes);  // the transfer's total once it ended
      if (o_.source) {
        int64_t so = SourceOffset(src_);
        if (so >= 0) {
          lag_.AddSourceOffset(now, so);
          s.lag_bytes = std::max<int64_t>(0, so - st.offset);
          s.lag_s = lag_.LagSeconds(now, st.offset);
          report_.source_offset = so;
          report_.target_offset = st.offset;
        }
        s.phase = s.lag_bytes == 0 ? Phase::kInSync : Phase::kCatchUp;
      } else {
        s.phase = Phase::kInSync;
      }
    }
    if (forced != Phase::kDone) s.phase = forced;
    if (s.phase == Phase::kInSync || s.phase == Phase::kCatchUp) s.note = follow_note_;
    if (!st.link_up && !st.last_error.empty()) s.note = st.last_error;
    if (!st.ok) s.note = st.error;
    Show(s, now);
    return st;
  }

  bool WaitFullSync() {
    auto last_progress = Clock::now();
    int64_t progress_mark = -1;
    std::string last_error_seen;
    while (true) {
      if (c_.interrupt.load()) return Fail(kExitInterrupted, "interrupted before the full sync completed");
      ReplStatus st = Poll();
      if (!st.ok) return Fail(kExitTarget, "lost the target: " + st.error);
      bool done = st.link_up && !st.sync_in_progress && (st.full_syncs > baseline_full_ || already_ ||
                                                         st.partial_syncs > baseline_partial_);
      if (done) break;
      if (!stale_error_.empty() && st.last_error != stale_error_) stale_error_.clear();
      if (!st.last_error.empty() && st.last_error != last_error_seen && st.last_error != stale_error_) {
        last_error_seen = st.last_error;
        printer_.Message("replica: " + st.last_error);
        if (auto fatal = FatalReplicaError(st.last_error)) return Fail(fatal->first, fatal->second);
      }
      int64_t mark = st.sync_read_bytes + st.sync_keys + (st.sync_in_progress ? 1 : 0);
      if (mark != progress_mark) {
        progress_mark = mark;
        last_progress = Clock::now();
      }
      if (Seconds(last_progress) > o_.stall_timeout_s)
        return Fail(kExitSync, "no sync progress for " + std::to_string(static_cast<int>(o_.stall_timeout_s)) +
                                   " s" + (last_error_seen.empty() ? "" : "; last error: " + last_error_seen));
      Sleep(o_.tty ? 100 : 200);
    }
    ReplStatus st = target_->Status();
    // What the target holds now, not a sample of the loader's counter taken mid-transfer.
    int64_t keys = target_->KeyCount();
    report_.keys_loaded = keys >= 0 ? keys : std::max(last_keys_, st.sync_keys);
    // A transfer faster than the polling is only seen in the replica's after-sync figure.
    report_.rdb_bytes = rdb_primary_ ? rdb_primary_->file_size() : std::max(last_bytes_, st.last_sync_bytes);
    report_.transfer_seconds = Seconds(saw_transfer_ ? transfer_started_ : sync_started_);
    if (!saw_transfer_ && report_.rdb_bytes == 0) report_.transfer_seconds = Seconds(sync_started_);
    printer_.Finish();
    printer_.Message("full sync done: " + std::to_string(report_.keys_loaded) + " keys in " +
                     std::to_string(report_.transfer_seconds).substr(0, 6) + " s");
    return true;
  }

  // Waits until the target has applied what the source had when the wait started.
  bool CatchUp(double timeout_s) {
    auto start = Clock::now();
    int64_t want = SourceOffset(src_);
    if (want < 0) return false;
    while (Seconds(start) < timeout_s && !c_.interrupt.load()) {
      ReplStatus st = Poll();
      if (st.ok && st.link_up && st.offset >= want) return true;
      Sleep(20);
    }
    return false;
  }

  // After a cutover: the source (now a replica of the target) applied everything the
  // target had when this was called.
  bool SourceFollowedTarget(double timeout_s) {
    auto start = Clock::now();
    ReplStatus t = target_->Status();
    if (!t.ok) return false;
    while (Seconds(start) < timeout_s && !c_.interrupt.load()) {
      auto info = src_.Info("replication");
      if (InfoStr(info, "master_link_status") == "up" && InfoInt(info, "slave_repl_offset", -1) >= t.offset) return true;
      Sleep(20);
    }
    return false;
  }

  bool AfterSync() {
    if (!o_.source) {
      // An RDB file: detach the target from the file server; it keeps the data.
      if (auto err = target_->ReplicaOfNoOne()) return Fail(kExitTarget, *err);
      rdb_primary_->Stop();
      report_.in_sync = true;
    } else {
      auto start = Clock::now();
      if (!CatchUp(o_.catchup_timeout_s)) {
        if (c_.interrupt.load()) return Fail(kExitInterrupted, "interrupted while catching up");
        return Fail(kExitSync, "the target did not catch up with the source within " +
                                   std::to_string(static_cast<int>(o_.catchup_timeout_s)) + " s");
      }
      report_.catchup_seconds = Seconds(start);
      report_.in_sync = true;
      printer_.Finish();
      printer_.Message("caught up with the source at offset " + std::to_string(report_.target_offset));
      if (o_.follow) Follow();
      bool cut = (o_.cutover || c_.cutover_requested.load()) && !c_.interrupt.load();
      if (cut) DoCutover();
    }
    if (o_.verify) DoVerify();
    if (o_.save) DoSave();
    return true;
  }

  // Where the source reaches the target: --target-address, else the --target address,
  // else the embedded server's listening address (for a wildcard bind, the local address
  // of our own connection to the source, which is what the source sees us as).
  std::pair<std::string, int> TargetAddressForSource() {
    if (!o_.target_address.empty()) {
      std::string err;
      auto hp = ParseHostPort(o_.target_address, &err);
      if (hp) return {hp->host, hp->port};
    }
    if (!target_->embedded()) return {target_->host(), target_->port()};
    const std::string& bind = o_.embedded.bind;
    if (bind == "0.0.0.0" || bind == "::" || bind.empty()) {
      std::string local = src_.LocalAddress();
      return {local.empty() ? target_->host() : local, target_->port()};
    }
    return {bind, target_->port()};
  }

  void DoCutover() {
    CutoverOptions co;
    co.pause_ms = o_.pause_ms;
    co.leave_source = o_.cutover_leave_source;
    co.source_sync_timeout_s = o_.source_sync_timeout_s;
    std::tie(co.target_host, co.target_port) = TargetAddressForSource();
    co.source_tls = o_.source->tls.enabled;
    co.target_address_given = !o_.target_address.empty();
    co.target_tls = o_.target && o_.target->tls.enabled;
    if (o_.target) {
      co.target_user = o_.target->user;
      co.target_password = o_.target->password;
    } else {
      co.target_password = o_.embedded.requirepass;
    }
    if (!co.leave_source && IsLoopback(co.target_host) && !IsLoopback(o_.source->host)) {
      report_.cutover.ran = true;
      report_.cutover.error = "the source " + o_.source->Display() + " would have to follow the target at " +
                              co.target_host + ":" + std::to_string(co.target_port) +
                              ", a loopback address it cannot reach; give --target-address host:port (how the "
                              "source reaches the target) or --cutover-leave-source. Nothing was paused";
    } else {
      printer_.Message("cutover: pausing writes on the source");
      report_.cutover = Cutover(src_, *target_, co);
    }
    if (report_.cutover.ok) {
      printer_.Message("cutover done: the target is a primary, detached at offset " +
                       std::to_string(report_.cutover.target_offset) + ", equal to the source's; the source is " +
                       (co.leave_source ? "still a writable primary (--cutover-leave-source)" : report_.cutover.source_role));
      report_.source_offset = report_.cutover.source_offset;
      report_.target_offset = report_.cutover.target_offset;
      report_.in_sync = true;
    } else {
      printer_.Message("cutover failed: " + report_.cutover.error);
      report_.exit_code = kExitCutover;
      report_.error = report_.cutover.error;
    }
  }

  // One sample check while following: differences go to the log and the status line.
  void FollowCheck() {
    std::string err;
    if (!follow_dst_) {
      follow_dst_ = target_->NewConn(&err);
      if (follow_dst_ && follow_src_.Connect("source " + o_.source->Display(), o_.source->host, o_.source->port,
                                             o_.source->user, o_.source->password, o_.source->tls))
        err = follow_src_.error();
    }
    auto& fc = report_.follow_checks;
    fc.runs++;
    if (!follow_dst_ || !err.empty()) {
      fc.last_error = err.empty() ? "cannot connect" : err;
      follow_dst_.reset();
      follow_note_ = "check failed: " + fc.last_error;
      printer_.Message("sample check failed: " + fc.last_error);
      return;
    }
    VerifyOptions vo;
    vo.sample = o_.verify_every_sample;
    vo.ttl_tolerance_ms = o_.ttl_tolerance_ms;
    vo.show = o_.verify_show;
    vo.wait_caught_up = [this] { return CatchUp(30); };
    Verifier v(follow_src_, *follow_dst_, vo);
    VerifyResult r = v.Run();
    fc.keys_checked += r.keys_checked;
    fc.mismatches += r.mismatches;
    fc.last_mismatches = r.mismatches;
    fc.last_error = r.error;
    std::string when = Timestamp().substr(11, 8);
    if (!r.error.empty()) {
      follow_note_ = "check " + when + " FAILED: " + r.error;
      printer_.Message("sample check failed: " + r.error);
      follow_dst_.reset();  // reconnect next time
    } else if (r.mismatches > 0) {
      follow_note_ = "check " + when + ": " + std::to_string(r.mismatches) + " DIFFERENCE(S) in " +
                     std::to_string(r.keys_checked) + " keys, see the log";
      printer_.Message("sample check: " + std::to_string(r.mismatches) + " difference(s) in " +
                       std::to_string(r.keys_checked) + " keys:");
      for (const auto& m : r.first) {
        printer_.Message("  db" + std::to_string(m.db) + " '" + m.key + "': " + m.what);
        if (fc.first.size() < o_.verify_show) fc.first.push_back(m);
      }
    } else {
      follow_note_ = "check " + when + ": " + std::to_string(r.keys_checked) + " keys equal";
    }
  }

  void Follow() {
    std::string pending;
    auto last_check = Clock::now();
    printer_.Message(std::string("following the source; stop with Ctrl-C") +
                     (o_.stdin_commands ? ", type 'cutover' to switch over" : "") + ", or send SIGUSR1 to cut over");
    while (!c_.interrupt.load() && !c_.cutover_requested.load()) {
      if (o_.stdin_commands && StdinAsksCutover(pending)) c_.cutover_requested.store(true);
      if (o_.verify_every_s > 0 && Seconds(last_check) >= o_.verify_every_s) {
        FollowCheck();
        last_check = Clock::now();
      }
      Poll();
      Sleep(o_.tty ? 200 : 250);
    }
    printer_.Finish();
    ReplStatus st = target_->Status();
    int64_t so = SourceOffset(src_);
    report_.in_sync = st.link_up && so >= 0 && st.offset >= so;
  }

  void DoVerify() {
    std::string err;
    auto tconn = target_->NewConn(&err);
    RedisConn sconn;
    if (!tconn) {
      report_.verify.ran = true;
      report_.verify.error = err;
    } else if (o_.source && sconn.Connect("source " + o_.source->Display(), o_.source->host, o_.source->port,
                                          o_.source->user, o_.source->password, o_.source->tls)) {
      report_.verify.ran = true;
      report_.verify.error = sconn.error();
    } else if (!o_.source) {
      report_.warnings.push_back("--verify needs a live source; with --rdb, check the file with darter-rdb instead");
    } else {
      printer_.Message(std::string("verifying ") + (o_.verify_sample ? "a sample of " + std::to_string(o_.verify_sample) + " keys" : "every key"));
      VerifyOptions vo;
      vo.sample = o_.verify_sample;
      vo.ttl_tolerance_ms = o_.ttl_tolerance_ms;
      vo.show = o_.verify_show;
      if (!report_.cutover.target_detached) {
        vo.wait_caught_up = [this] { return CatchUp(30); };
      } else if (report_.cutover.source_following) {
        // The source follows the target now: re-checks wait until it has what the target has.
        vo.wait_caught_up = [this] { return SourceFollowedTarget(30); };
      }
      vo.on_progress = [this](uint64_t n) {
        ProgressSample s;
        s.phase = Phase::kVerify;
        s.note = std::to_string(n) + " keys checked";
        Show(s, Seconds(t0_));
      };
      Verifier v(sconn, *tconn, vo);
      report_.verify = v.Run();
      printer_.Finish();
    }
    if (report_.verify.ran && (report_.verify.mismatches > 0 || !report_.verify.error.empty()) &&
        report_.exit_code == kExitOk) {
      report_.exit_code = kExitVerifyMismatch;
      report_.error = report_.verify.error.empty()
                          ? std::to_string(report_.verify.mismatches) + " key(s) differ between the source and the target"
                          : "verification failed: " + report_.verify.error;
    }
  }

  void DoSave() {
    std::string path;
    if (auto err = target_->Save(&path)) {
      report_.snapshot_error = *err;
      if (report_.exit_code == kExitOk) {
        report_.exit_code = kExitTarget;
        report_.error = "snapshot: " + *err;
      }
      return;
    }
    report_.snapshot_path = path;
  }

  // What the target is left as, said plainly: a replica still following the source
  // rejects writes, which nobody expects after "migration done".
  void DescribeTarget(const ReplStatus& st) {
    if (!st.ok) {
      report_.target_state = "unknown: " + st.error;
      return;
    }
    if (st.is_replica && o_.detach) {
      if (auto err = target_->ReplicaOfNoOne()) {
        report_.warnings.push_back("--detach: " + *err);
      } else {
        report_.detached = true;
        bool partial = !report_.in_sync && !report_.cutover.target_detached;
        report_.target_state = std::string("primary: --detach ran REPLICAOF NO ONE; it accepts writes") +
                               (partial ? " (it had not caught up with the source: its data may be partial)"
                                        : "; writes still sent to the source are NOT on it");
        return;
      }
    }
    if (st.is_replica) {
      report_.target_is_replica = true;
      std::string master = st.master_host + ":" + std::to_string(st.master_port);
      report_.target_state =
          target_->embedded()
              ? "replica of " + master + " until the tool exits (the embedded server stops with it)"
              : "still a replica of " + master +
                    ": it follows the source and rejects writes (-READONLY). Detach it with REPLICAOF NO ONE, "
                    "rerun with --detach, or cut over with --cutover";
    } else {
      report_.target_state = "primary: accepts writes";
    }
  }

  // --copy-acl: every source user but the one darter-migrate logs in to the target as,
  // now; that one at the end (FinishUsers), when no new connection needs its old password.
  bool CopyUsers() {
    std::vector<AclUserRules> users;
    std::string err;
    if (!ReadSourceUsers(src_, &users, &err)) return Fail(kExitSource, "--copy-acl: " + err);
    const std::string own = o_.target && !o_.target->user.empty() ? o_.target->user : "default";
    report_.acl.ran = true;
    for (AclUserRules& u : users) {
      if (u.name == own) {
        deferred_user_ = std::move(u);
        continue;
      }
      report_.acl.users.push_back(ApplyUser(target_->conn(), u));
    }
    size_t fine = 0;
    for (const auto& u : report_.acl.users) fine += u.copied;
    printer_.Message("--copy-acl: " + std::to_string(fine) + " of " + std::to_string(report_.acl.users.size()) +
                     " users copied as they are" + (deferred_user_ ? "; '" + own + "' at the end" : ""));
    return true;
  }

  void FinishUsers() {
    if (deferred_user_) {
      report_.acl.applied_last = deferred_user_->name;
      report_.acl.users.push_back(ApplyUser(target_->conn(), *deferred_user_));
      deferred_user_.reset();
    }
    ReplyPtr r = target_->conn().Cmd({"ACL", "SAVE"});
    if (r && !IsError(r.get())) {
      ReplyPtr f = target_->conn().Cmd({"CONFIG", "GET", "aclfile"});
      if (f && f->type == REDIS_REPLY_ARRAY && f->elements == 2) report_.acl.saved_to = ReplyText(f->element[1]);
    } else {
      report_.acl.save_error = (r ? ReplyText(r.get()) : target_->conn().error()) +
                               " — the users live in the target's memory only; give it an aclfile and run ACL SAVE";
      report_.warnings.push_back("--copy-acl: the target could not save the users (ACL SAVE): they are lost when it "
                                 "restarts");
    }
    for (const auto& u : report_.acl.users)
      if (!u.copied)
        report_.warnings.push_back("--copy-acl: user '" + u.name + "' differs from the source (see ACL users above)");
  }

  void Finish() {
    printer_.Finish();
    if (target_) {
      ReplStatus st = target_->Status();
      if (st.ok) {
        report_.full_syncs = st.full_syncs - baseline_full_;
        report_.partial_syncs = st.partial_syncs - baseline_partial_;
        // After a cutover the target is a primary with offsets of its own: the report
        // keeps the offset at which it was detached.
        if (!report_.cutover.target_detached) report_.target_offset = st.offset;
      }
      DescribeTarget(st);
      if (report_.follow_checks.last_mismatches > 0 && report_.exit_code == kExitOk) {
        report_.exit_code = kExitVerifyMismatch;
        report_.error = "the last sample check while following found " +
                        std::to_string(report_.follow_checks.last_mismatches) + " difference(s)";
      }
      if (o_.source && !report_.cutover.target_detached && src_.connected()) {
        int64_t so = SourceOffset(src_);
        if (so >= 0) report_.source_offset = so;
      }
      if (report_.acl.ran) FinishUsers();
      if (target_->embedded()) target_->Shutdown();
    }
    if (rdb_primary_) rdb_primary_->Stop();
    report_.total_seconds = Seconds(t0_);
    ProgressSample done;
    done.phase = Phase::kDone;
    done.note = report_.error;
    board_.Publish(done, report_.total_seconds);
  }

  const MigrationOptions& o_;
  MigrationControl& c_;
  ProgressPrinter printer_;
  StatusBoard board_;
  std::unique_ptr<StatusHttpServer> status_;  // --status-port
  MigrationReport report_;
  RedisConn src_;
  std::unique_ptr<RdbFilePrimary> rdb_primary_;
  std::unique_ptr<Target> target_;
  unsigned source_dbs_ = 0;
  int64_t baseline_full_ = 0;
  int64_t baseline_partial_ = 0;
  bool already_ = false;
  Clock::time_point t0_, sync_started_, transfer_started_;
  bool saw_transfer_ = false;
  int64_t last_bytes_ = 0;
  int64_t last_keys_ = 0;
  LagTracker lag_;
  std::string stale_error_;  // the replica's error from before this run, ignored until it changes
  // --verify-every while following: connections kept between checks, and the status note.
  RedisConn follow_src_;
  std::unique_ptr<RedisConn> follow_dst_;
  std::string follow_note_;
  std::optional<AclUserRules> deferred_user_;  // --copy-acl: applied by FinishUsers
};

}  // namespace

MigrationReport RunMigration(const MigrationOptions& options, MigrationControl& control) {
  Run run(options, control);
  return run.Go();
}

}  // namespace darter::migrate
