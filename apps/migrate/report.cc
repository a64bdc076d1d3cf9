#include "migrate/report.h"

#include <cstdio>
#include <sstream>

#include "migrate/progress.h"

namespace darter::migrate {

std::string JsonEscape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          // Keys are bytes, not UTF-8: escape everything outside ASCII as \u00XX.
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

std::string Num(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') out += static_cast<char>(c);
    else {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string CountsJson(const std::map<int, std::map<std::string, uint64_t>>& counts) {
  std::string out = "{";
  bool first_db = true;
  for (const auto& [db, types] : counts) {
    out += (first_db ? "" : ",") + JsonEscape(std::to_string(db)) + ":{";
    first_db = false;
    bool first = true;
    for (const auto& [type, n] : types) {
      out += (first ? "" : ",") + JsonEscape(type) + ":" + std::to_string(n);
      first = false;
    }
    out += "}";
  }
  return out + "}";
}

std::string TlsJson(const TlsUse& t) {
  return std::string("{\"enabled\":") + (t.enabled ? "true" : "false") + ",\"verified\":" +
         (t.verified ? "true" : "false") + ",\"trust\":" + JsonEscape(t.trust) + "}";
}

}  // namespace

std::string MigrationReport::ToText() const {
  std::ostringstream o;
  o << "darter-migrate report (" << mode << ")\n";
  o << "  source:        " << source << (source_version.empty() ? "" : " (redis " + source_version + ")") << "\n";
  o << "  target:        " << target << "\n";
  for (auto [side, t] : {std::pair<const char*, const TlsUse*>{"source", &source_tls}, {"target", &target_tls}}) {
    if (!t->enabled) continue;
    o << "  " << side << " TLS:    ";
    if (t->verified) o << "certificate verified against the " << t->trust << "\n";
    else o << "certificate NOT verified (--" << (t == &target_tls ? "target-" : "") << "tls-insecure)\n";
  }
  if (source_keys >= 0) o << "  source keys:   " << source_keys << "\n";
  o << "  keys loaded:   " << keys_loaded << " by the full sync";
  if (transfer_seconds > 0)
    o << " in " << Num(transfer_seconds) << " s (" << static_cast<long long>(keys_loaded / transfer_seconds)
      << " keys/s, " << HumanBytes(rdb_bytes / transfer_seconds) << "/s)";
  o << "\n";
  if (rdb_bytes > 0) o << "  RDB bytes:     " << rdb_bytes << " (" << HumanBytes(rdb_bytes) << ")\n";
  if (catchup_seconds > 0) o << "  catch-up:      " << Num(catchup_seconds) << " s\n";
  o << "  syncs:         " << full_syncs << " full, " << partial_syncs << " partial\n";
  if (source_offset >= 0)
    o << "  offsets:       source " << source_offset << ", target " << target_offset
      << (in_sync ? " (in sync)" : " (behind)") << "\n";
  if (cutover.ran) {
    o << "  cutover:       " << (cutover.ok ? "done" : "FAILED");
    if (cutover.ok)
      o << ": source paused for " << Num(cutover.pause_ms) << " ms at offset " << cutover.source_offset
        << ", target detached at offset " << cutover.target_offset << " — no write left behind";
    if (!cutover.error.empty()) o << ": " << cutover.error;
    o << "\n";
    if (cutover.ok && cutover.check_rounds > 1)
      o << "                 (offsets checked " << cutover.check_rounds << " times: keep-alives moved the source's offset)\n";
    if (cutover.keepalive_bytes > 0)
      o << "                 (" << cutover.keepalive_bytes
        << " bytes of PING/REPLCONF GETACK from the paused source after the check: no data)\n";
    if (cutover.target_detached) {
      if (cutover.leave_source)
        o << "  source state:  left a writable primary (--cutover-leave-source): writes still sent to it are NOT on "
             "the target; stop its clients\n";
      else if (cutover.source_role != "primary")
        o << "  source state:  " << cutover.source_role
          << (cutover.source_following ? " (link up: an up-to-date rollback copy; its clients get -READONLY)"
                                       : " (link not up yet; its clients get -READONLY)")
          << "\n";
      else
        o << "  source state:  still a writable primary: writes still sent to it are NOT on the target\n";
    }
    for (const auto& n : cutover.notes) o << "  cutover note:  " << n << "\n";
  }
  if (follow_checks.runs > 0) {
    o << "  follow checks: " << follow_checks.runs << " sample check(s), " << follow_checks.keys_checked
      << " keys, " << follow_checks.mismatches << " difference(s)";
    if (!follow_checks.last_error.empty()) o << "; last error: " << follow_checks.last_error;
    o << "\n";
    for (const auto& m : follow_checks.first) o << "    db" << m.db << " '" << Printable(m.key) << "': " << m.what << "\n";
  }
  if (verify.ran) {
    o << "  verify:        " << verify.keys_checked << " keys checked" << (verify.sampled ? " (sample)" : "") << " in "
      << Num(verify.seconds) << " s, " << verify.mismatches << " difference(s)";
    if (verify.keys_rechecked) o << " (" << verify.keys_rechecked << " re-checked after catching up)";
    o << "\n";
    for (const auto& [db, types] : verify.source_counts) {
      o << "    db" << db << ":";
      for (const auto& [type, n] : types) {
        uint64_t t = 0;
        auto it = verify.target_counts.find(db);
        if (it != verify.target_counts.end() && it->second.count(type)) t = it->second.at(type);
        o << " " << type << " " << n << (t == n ? "" : " (target " + std::to_string(t) + ")");
      }
      o << "\n";
    }
    for (const auto& [db, types] : verify.target_counts)
      if (!verify.source_counts.count(db)) o << "    db" << db << ": only on the target\n";
    for (const auto& m : verify.first) o << "    db" << m.db << " '" << Printable(m.key) << "': " << m.what << "\n";
    if (verify.mismatches > verify.first.size())
      o << "    ... and " << verify.mismatches - verify.first.size() << " more\n";
    if (!verify.error.empty()) o << "    verification stopped: " << verify.error << "\n";
  }
  if (acl.ran) {
    size_t copied = 0, reduced = 0, disabled = 0;
    for (const auto& u : acl.users) {
      if (u.copied) copied++;
      else if (u.disabled || !u.error.empty()) disabled++;
      else reduced++;
    }
    o << "  ACL users:     " << acl.users.size() << " from the source: " << copied << " copied as they are";
    if (reduced) o << ", " << reduced << " with fewer permissions";
    if (disabled) o << ", " << disabled << " left disabled";
    o << "\n";
    for (const auto& u : acl.users) {
      if (u.copied) continue;
      o << "    user '" << Printable(u.name) << "': ";
      if (!u.error.empty()) o << "NOT created: " << u.error << "\n";
      else o << (u.disabled ? "left disabled (off): a refused rule would have denied something"
                          : "enabled without the refused rules (each only granted something)")
             << "\n";
      for (const auto& r : u.refusals) o << "      refused '" << Printable(r.rule) << "': " << r.error << "\n";
    }
    if (!acl.applied_last.empty())
      o << "    user '" << Printable(acl.applied_last) << "' was applied at the end (darter-migrate logs in as it)\n";
    if (!acl.saved_to.empty()) o << "    saved to " << acl.saved_to << " (ACL SAVE; start darter-server with --aclfile " << acl.saved_to << ")\n";
    if (!acl.save_error.empty()) o << "    NOT saved: " << acl.save_error << "\n";
  }
  if (!snapshot_path.empty()) o << "  snapshot:      " << snapshot_path << " (start with: darter-server --dir ... --dbfilename ...)\n";
  if (!snapshot_error.empty()) o << "  snapshot:      FAILED: " << snapshot_error << "\n";
  if (!target_state.empty()) o << "  target state:  " << target_state << "\n";
  for (const auto& w : warnings) o << "  warning:       " << w << "\n";
  o << "  total time:    " << Num(total_seconds) << " s\n";
  if (!error.empty()) o << "  error:         " << error << "\n";
  o << "  result:        " << (exit_code == 0 ? "OK" : "FAILED") << " (exit code " << exit_code << ")\n";
  return o.str();
}

std::string MigrationReport::ToJson() const {
  std::ostringstream o;
  o << "{\"mode\":" << JsonEscape(mode) << ",\"source\":" << JsonEscape(source)
    << ",\"source_version\":" << JsonEscape(source_version) << ",\"target\":" << JsonEscape(target)
    << ",\"source_tls\":" << TlsJson(source_tls) << ",\"target_tls\":" << TlsJson(target_tls)
    << ",\"source_keys\":" << source_keys << ",\"keys_loaded\":" << keys_loaded << ",\"rdb_bytes\":" << rdb_bytes
    << ",\"transfer_seconds\":" << Num(transfer_seconds) << ",\"catchup_seconds\":" << Num(catchup_seconds)
    << ",\"total_seconds\":" << Num(total_seconds) << ",\"full_syncs\":" << full_syncs
    << ",\"partial_syncs\":" << partial_syncs << ",\"source_offset\":" << source_offset
    << ",\"target_offset\":" << target_offset << ",\"in_sync\":" << (in_sync ? "true" : "false")
    << ",\"snapshot_path\":" << JsonEscape(snapshot_path) << ",\"snapshot_error\":" << JsonEscape(snapshot_error);
  o << ",\"cutover\":{\"ran\":" << (cutover.ran ? "true" : "false") << ",\"ok\":" << (cutover.ok ? "true" : "false")
    << ",\"source_offset\":" << cutover.source_offset << ",\"target_offset\":" << cutover.target_offset
    << ",\"source_offset_after\":" << cutover.source_offset_after << ",\"pause_ms\":" << Num(cutover.pause_ms)
    << ",\"check_rounds\":" << cutover.check_rounds << ",\"keepalive_bytes\":" << cutover.keepalive_bytes
    << ",\"target_detached\":" << (cutover.target_detached ? "true" : "false")
    << ",\"leave_source\":" << (cutover.leave_source ? "true" : "false")
    << ",\"source_role\":" << JsonEscape(cutover.source_role)
    << ",\"source_following\":" << (cutover.source_following ? "true" : "false")
    << ",\"source_replica_offset\":" << cutover.source_replica_offset << ",\"notes\":[";
  for (size_t i = 0; i < cutover.notes.size(); ++i) o << (i ? "," : "") << JsonEscape(cutover.notes[i]);
  o << "],\"error\":" << JsonEscape(cutover.error) << "}";
  o << ",\"follow_checks\":{\"runs\":" << follow_checks.runs << ",\"keys_checked\":" << follow_checks.keys_checked
    << ",\"mismatches\":" << follow_checks.mismatches << ",\"last_error\":" << JsonEscape(follow_checks.last_error)
    << ",\"first_mismatches\":[";
  for (size_t i = 0; i < follow_checks.first.size(); ++i)
    o << (i ? "," : "") << "{\"db\":" << follow_checks.first[i].db << ",\"key\":" << JsonEscape(follow_checks.first[i].key)
      << ",\"what\":" << JsonEscape(follow_checks.first[i].what) << "}";
  o << "]}";
  o << ",\"target_state\":" << JsonEscape(target_state) << ",\"target_is_replica\":" << (target_is_replica ? "true" : "false")
    << ",\"detached\":" << (detached ? "true" : "false");
  o << ",\"verify\":{\"ran\":" << (verify.ran ? "true" : "false") << ",\"sampled\":" << (verify.sampled ? "true" : "false")
    << ",\"keys_checked\":" << verify.keys_checked << ",\"keys_rechecked\":" << verify.keys_rechecked
    << ",\"mismatches\":" << verify.mismatches << ",\"seconds\":" << Num(verify.seconds)
    << ",\"no_touch\":" << (verify.no_touch ? "true" : "false")
    << ",\"error\":" << JsonEscape(verify.error) << ",\"source_counts\":" << CountsJson(verify.source_counts)
    << ",\"target_counts\":" << CountsJson(verify.target_counts) << ",\"first_mismatches\":[";
  for (size_t i = 0; i < verify.first.size(); ++i)
    o << (i ? "," : "") << "{\"db\":" << verify.first[i].db << ",\"key\":" << JsonEscape(verify.first[i].key)
      << ",\"what\":" << JsonEscape(verify.first[i].what) << "}";
  o << "]}";
  o << ",\"acl\":{\"ran\":" << (acl.ran ? "true" : "false") << ",\"users\":[";
  for (size_t i = 0; i < acl.users.size(); ++i) {
    const AclUserCopy& u = acl.users[i];
    o << (i ? "," : "") << "{\"name\":" << JsonEscape(u.name) << ",\"copied\":" << (u.copied ? "true" : "false")
      << ",\"disabled\":" << (u.disabled ? "true" : "false") << ",\"error\":" << JsonEscape(u.error)
      << ",\"refusals\":[";
    for (size_t k = 0; k < u.refusals.size(); ++k)
      o << (k ? "," : "") << "{\"rule\":" << JsonEscape(u.refusals[k].rule)
        << ",\"error\":" << JsonEscape(u.refusals[k].error) << "}";
    o << "]}";
  }
  o << "],\"applied_last\":" << JsonEscape(acl.applied_last) << ",\"saved_to\":" << JsonEscape(acl.saved_to)
    << ",\"save_error\":" << JsonEscape(acl.save_error) << "}";
  o << ",\"warnings\":[";
  for (size_t i = 0; i < warnings.size(); ++i) o << (i ? "," : "") << JsonEscape(warnings[i]);
  o << "],\"error\":" << JsonEscape(error) << ",\"exit_code\":" << exit_code << "}\n";
  return o.str();
}

}  // namespace darter::migrate
