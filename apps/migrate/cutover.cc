#include "migrate/cutover.h"

#include <chrono>
#include <thread>

namespace darter::migrate {

namespace {

using Clock = std::chrono::steady_clock;

// Sizes of what a write-paused Redis still propagates: "*1\r\n$4\r\nPING\r\n" and
// "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n". Both go to the replicas'
// current db, so no SELECT precedes them.
constexpr int64_t kPingBytes = 14;
constexpr int64_t kGetAckBytes = 37;

// The command exists on `c` under its own name: COMMAND INFO answers nil for a renamed
// or unknown one. Unknown (COMMAND itself refused) counts as present: the command's
// own reply will say more.
bool HasCommand(RedisConn& c, const std::string& name) {
  ReplyPtr r = c.Cmd({"COMMAND", "INFO", name});
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) return true;
  return r->element[0]->type != REDIS_REPLY_NIL;
}

}  // namespace

int64_t SourceOffset(RedisConn& source) {
  auto info = source.Info("replication");
  return InfoInt(info, "master_repl_offset", -1);
}

bool IsKeepAliveBytes(int64_t bytes) {
  if (bytes < 0) return false;
  // At most one keep-alive per second of pause, so the counts stay small.
  for (int64_t acks = 0; acks * kGetAckBytes <= bytes && acks <= 1000; ++acks)
    if ((bytes - acks * kGetAckBytes) % kPingBytes == 0) return true;
  return false;
}

CutoverResult Cutover(RedisConn& source, Target& target, const CutoverOptions& o) {
  CutoverResult r;
  r.ran = true;
  r.leave_source = o.leave_source;
  r.source_role = "primary";
  const std::string target_addr = o.target_host + ":" + std::to_string(o.target_port);

  // Step 0: everything the source needs to follow the target, checked before pausing.
  if (!o.leave_source) {
    if (!HasCommand(source, "replicaof")) {
      r.error = "the source has no REPLICAOF command (renamed or disabled), so it cannot be made a replica of the "
                "target; nothing was paused. Rerun with --cutover-leave-source and stop every client of the source "
                "before switching them";
      return r;
    }
    ReplyPtr t = source.Cmd({"CONFIG", "GET", "tls-replication"});
    std::string link_tls = t && t->type == REDIS_REPLY_ARRAY && t->elements == 2 ? ReplyText(t->element[1]) : "";
    if (o.target_address_given) {
      if (link_tls == "yes" || link_tls == "no")
        r.notes.push_back("the source follows the target over " + std::string(link_tls == "yes" ? "TLS" : "plain TCP") +
                          " (its tls-replication is " + link_tls + "): " + target_addr +
                          (link_tls == "yes" ? " must serve TLS with a certificate the source trusts"
                                             : " must accept plain connections"));
    } else if ((link_tls == "yes" && !o.target_tls) || (link_tls == "no" && o.target_tls) ||
               (link_tls.empty() && o.source_tls)) {
      std::string why =
          link_tls.empty()
              ? "the source serves TLS but would not say how its replica link connects (CONFIG GET tls-replication: " +
                    (t ? ReplyText(t.get()) : source.error()) + ")"
              : "the source's tls-replication is " + link_tls + ", so as a replica it would connect to the target at " +
                    target_addr + " over " + (link_tls == "yes" ? "TLS" : "plain TCP") + ", which that address does not serve";
      r.error = why + "; nothing was paused. Give --target-address host:port where the target serves " +
                (link_tls == "no" ? "plain TCP" : "TLS (with a certificate the source trusts: its tls-ca-cert-file)") +
                ", change tls-replication on the source, or rerun with --cutover-leave-source";
      return r;
    }
    for (auto [name, value] : {std::pair<const char*, std::string>{"masteruser", o.target_user},
                               {"masterauth", o.target_password}}) {
      ReplyPtr c = source.Cmd({"CONFIG", "SET", name, value});
      if (!c) {
        r.error = "lost the source before the cutover: " + source.error();
        return r;
      }
      // Without a password on the target an unchanged setting only matters if the
      // source had one configured; a refusal is then a warning, not a stop.
      if (IsError(c.get()) && !o.target_password.empty()) {
        r.error = "the source refused CONFIG SET " + std::string(name) + " (" + ReplyText(c.get()) +
                  "), needed to follow the password-protected target; nothing was paused. Rerun with "
                  "--cutover-leave-source, or set " + name + " on the source yourself";
        return r;
      }
      if (IsError(c.get())) r.notes.push_back("CONFIG SET " + std::string(name) + " refused: " + ReplyText(c.get()));
    }
  }

  // Step 1.
  ReplyPtr p = source.Cmd({"CLIENT", "PAUSE", std::to_string(o.pause_ms), "WRITE"});
  if (!p || IsError(p.get())) {
    r.error = "the source refused CLIENT PAUSE " + std::to_string(o.pause_ms) +
              " WRITE (needs Redis 6.2+ and the CLIENT command): " + (p ? ReplyText(p.get()) : source.error());
    return r;
  }
  auto paused_at = Clock::now();
  auto unpause = [&] {
    ReplyPtr u = source.Cmd({"CLIENT", "UNPAUSE"});
    r.pause_ms = std::chrono::duration<double, std::milli>(Clock::now() - paused_at).count();
    if (!u || IsError(u.get()))
      r.error += (r.error.empty() ? "" : "; ") + std::string("CLIENT UNPAUSE failed (writes resume when the pause of ") +
                 std::to_string(o.pause_ms) + " ms ends): " + (u ? ReplyText(u.get()) : source.error());
  };

  // Step 2: the target at S, and S unchanged since the target reached it.
  auto deadline = paused_at + std::chrono::milliseconds(o.pause_ms * 4 / 5);
  ReplStatus st;
  while (true) {
    r.check_rounds++;
    int64_t s = SourceOffset(source);
    if (s < 0) {
      r.error = "cannot read the source's master_repl_offset: " + source.error();
      unpause();
      return r;
    }
    r.source_offset = s;
    bool reached = false;
    while (Clock::now() < deadline) {
      st = target.Status();
      if (st.ok && st.is_replica && st.link_up && st.offset >= s) {
        reached = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    r.target_offset = st.offset;
    if (!reached) {
      r.error = "the target did not reach the source's offset " + std::to_string(s) + " within " +
                std::to_string(o.pause_ms * 4 / 5) + " ms (it is at " + std::to_string(st.offset) +
                (st.link_up ? "" : ", link down") + "); the source was unpaused and the target is still a replica";
      unpause();
      return r;
    }
    int64_t again = SourceOffset(source);
    if (again == s && st.offset == s) break;
    // A keep-alive moved the source (or the target applied one S did not include yet).
    if (Clock::now() >= deadline) {
      r.error = "the source's offset kept moving while writes were paused (" + std::to_string(s) + " -> " +
                std::to_string(again) + "; is the source itself a replica, or a client exempt from the pause?); "
                "the source was unpaused and the target is still a replica";
      unpause();
      return r;
    }
  }

  // Step 3.
  if (auto err = target.ReplicaOfNoOne()) {
    r.error = *err;
    unpause();
    return r;
  }
  r.target_detached = true;

  // Step 4.
  r.source_offset_after = SourceOffset(source);
  int64_t extra = r.source_offset_after - r.source_offset;
  if (extra != 0) {
    if (!IsKeepAliveBytes(extra)) {
      r.error = "the source's offset moved from " + std::to_string(r.source_offset) + " to " +
                std::to_string(r.source_offset_after) +
                " while writes were paused (a client exempt from the pause?): those bytes are not on the target. The "
                "target is a primary now; the source was left a writable primary so nothing it holds is discarded";
      unpause();
      return r;
    }
    r.keepalive_bytes = extra;
  }

  // Step 5.
  if (!o.leave_source) {
    ReplyPtr ro = source.Cmd({"REPLICAOF", o.target_host, std::to_string(o.target_port)});
    if (!ro || IsError(ro.get())) {
      r.error = "the target is a primary, but the source refused REPLICAOF " + target_addr + " (" +
                (ro ? ReplyText(ro.get()) : source.error()) +
                "): it is still a writable primary, and writes sent to it now are NOT on the target";
      unpause();
      return r;
    }
    r.source_role = "replica of " + target_addr;
  }

  // Step 6.
  unpause();
  r.ok = r.error.empty();
  if (!r.ok || o.leave_source) return r;
  auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.source_sync_timeout_s * 1000));
  while (Clock::now() < until) {
    auto info = source.Info("replication");
    if (InfoStr(info, "role") == "slave" && InfoStr(info, "master_link_status") == "up") {
      r.source_following = true;
      r.source_replica_offset = InfoInt(info, "slave_repl_offset", -1);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!r.source_following)
    r.notes.push_back("the source has not finished its sync from the target within " +
                      std::to_string(static_cast<int>(o.source_sync_timeout_s)) +
                      " s; it keeps retrying (see its log)");
  return r;
}

}  // namespace darter::migrate
