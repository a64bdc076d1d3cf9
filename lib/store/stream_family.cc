// Stream commands (Redis's t_stream.c): XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID,
// consumer groups (XGROUP XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM) and XINFO.
// XREAD and XREADGROUP are MultiShardOps (their keys follow STREAMS); the rest run
// on their key's shard. BLOCK waits in lib/server/blocking/blocking.cc; the op here is the
// non-blocking form (null when nothing is there).
//
// Replication (effects.h): XADD with '*' or 'ms-*' and approximate trimming are
// propagated with the generated id and the exact trim threshold; XREADGROUP, XCLAIM
// and XAUTOCLAIM propagate XCLAIM ... FORCE JUSTID per entry as Redis 7.0 does.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/blocking_forms.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/stream_object.h"
#include "store/string_util.h"

namespace darter::store {

namespace {

using resp::ReplyBuilder;

constexpr std::string_view kInvalidId = "ERR Invalid stream ID specified as stream command argument";
constexpr std::string_view kNoKey = "ERR no such key";

// --- ids ---

// Redis's string2ull: string2ll when it fits, else strtoull's rules.
bool ParseU64(std::string_view s, uint64_t* out) {
  if (auto v = ParseInt64(s)) {
    if (*v < 0) return false;
    *out = static_cast<uint64_t>(*v);
    return true;
  }
  if (s.empty()) return false;
  std::string buf(s);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(buf.c_str(), &end, 10);
  if (errno == EINVAL || errno == ERANGE || *end != '\0') return false;
  *out = v;
  return true;
}

// Redis's streamGenericParseIDOrReply without the reply. `seq_given` (XADD only)
// accepts "ms-*" and reports whether the sequence was explicit.
bool ParseStreamId(std::string_view s, StreamId* id, uint64_t missing_seq, bool strict, bool* seq_given = nullptr) {
  if (s.size() > 127) return false;
  if (strict && (s == "-" || s == "+")) return false;
  if (seq_given) *seq_given = true;
  if (s == "-") {
    *id = kMinStreamId;
    return true;
  }
  if (s == "+") {
    *id = kMaxStreamId;
    return true;
  }
  size_t dash = s.find('-');
  uint64_t ms, seq;
  if (!ParseU64(s.substr(0, dash), &ms)) return false;
  if (dash != std::string_view::npos) {
    std::string_view rest = s.substr(dash + 1);
    if (seq_given && rest == "*") {
      seq = 0;
      *seq_given = false;
    } else if (!ParseU64(rest, &seq)) {
      return false;
    }
  } else {
    seq = missing_seq;
  }
  *id = {ms, seq};
  return true;
}

bool ParseIdOrReply(CommandContext& c, std::string_view s, StreamId* id, uint64_t missing_seq, bool strict) {
  if (ParseStreamId(s, id, missing_seq, strict)) return true;
  c.reply.Error(kInvalidId);
  return false;
}

// An interval bound: "(" makes it exclusive (and strict).
bool ParseIntervalId(std::string_view s, StreamId* id, bool* exclusive, uint64_t missing_seq) {
  *exclusive = s.size() > 1 && s[0] == '(';
  if (*exclusive) return ParseStreamId(s.substr(1), id, missing_seq, true);
  return ParseStreamId(s, id, missing_seq, false);
}

// Start/end of XRANGE, XPENDING and XAUTOCLAIM, with Redis's errors.
bool ParseRangeStart(CommandContext& c, std::string_view s, StreamId* id) {
  bool ex;
  if (!ParseIntervalId(s, id, &ex, 0)) {
    c.reply.Error(kInvalidId);
    return false;
  }
  if (ex && !IncrStreamId(id)) {
    c.reply.Error("ERR invalid start ID for the interval");
    return false;
  }
  return true;
}

bool ParseRangeEnd(CommandContext& c, std::string_view s, StreamId* id) {
  bool ex;
  if (!ParseIntervalId(s, id, &ex, UINT64_MAX)) {
    c.reply.Error(kInvalidId);
    return false;
  }
  if (ex && !DecrStreamId(id)) {
    c.reply.Error("ERR invalid end ID for the interval");
    return false;
  }
  return true;
}

bool ParseLongLongOrReply(CommandContext& c, std::string_view s, int64_t* v, std::string_view msg = {}) {
  auto p = ParseInt64(s);
  if (!p) {
    if (msg.empty()) c.reply.Error(errors::kNotInteger);
    else c.reply.Error(std::string("ERR ") + std::string(msg));
    return false;
  }
  *v = *p;
  return true;
}

// --- replies ---

void ReplyId(ReplyBuilder& rb, StreamId id) { rb.Bulk(FormatStreamId(id)); }

void ReplyEntry(ReplyBuilder& rb, StreamId id, StreamFields fv) {
  rb.ArrayHeader(2);
  ReplyId(rb, id);
  rb.ArrayHeader(fv.size());
  for (std::string_view s : fv) rb.Bulk(s);
}

// Emits the entries of [start, end] (at most `count`, 0 = all) as an array.
size_t ReplyRange(ReplyBuilder& rb, const StreamObject& s, StreamId start, StreamId end, size_t count, bool rev) {
  std::string body;
  ReplyBuilder tmp(&body);
  tmp.SetProtocol(rb.protocol());
  size_t n = 0;
  s.Range(start, end, rev, [&](StreamId id, StreamFields fv) {
    ReplyEntry(tmp, id, fv);
    ++n;
    return !(count && n == count);
  });
  rb.ArrayHeader(n);
  rb.Raw(body);
  return n;
}

// Writes one entry by id: [id, fields] or nothing. Returns whether it exists.
bool ReplyOneEntry(ReplyBuilder& rb, const StreamObject& s, StreamId id) {
  bool found = false;
  s.Range(id, id, false, [&](StreamId e, StreamFields fv) {
    ReplyEntry(rb, e, fv);
    found = true;
    return false;
  });
  return found;
}

std::vector<std::string> ToStrings(ArgList args) { return {args.begin(), args.end()}; }

void PropagateStrings(Effects& e, const std::vector<std::string>& argv) {
  std::vector<std::string_view> v(argv.begin(), argv.end());
  e.Propagate(v);
}

StreamObject* StreamOf(const Slot* s) { return s ? s->value.As<StreamObject>() : nullptr; }

// --- XADD / XTRIM argument parsing (Redis's streamParseAddOrTrimArgsOrReply) ---

struct AddTrimArgs {
  StreamObject::TrimArgs trim;
  size_t trim_arg_idx = 0;  // index of the threshold argument
  size_t limit_idx = 0;     // index of "LIMIT" when given
  bool id_given = false;
  bool seq_given = true;
  StreamId id;
  bool no_mkstream = false;
};

// Returns the index of the id argument (XADD) or args.size() (XTRIM); -1 after replying.
ptrdiff_t ParseAddOrTrim(CommandContext& c, bool xadd, AddTrimArgs* a) {
  bool limit_given = false;
  size_t i = 2;
  using TS = StreamObject::TrimStrategy;
  for (; i < c.args.size(); ++i) {
    size_t moreargs = c.args.size() - 1 - i;
    std::string_view opt = c.args[i];
    if (xadd && opt == "*") break;
    bool maxlen = EqualsIgnoreCase(opt, "maxlen"), minid = EqualsIgnoreCase(opt, "minid");
    if ((maxlen || minid) && moreargs) {
      if (a->trim.strategy != TS::kNone) {
        c.reply.Error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
        return -1;
      }
      a->trim.approx = false;
      std::string_view next = c.args[i + 1];
      if (moreargs >= 2 && next == "~") {
        a->trim.approx = true;
        ++i;
      } else if (moreargs >= 2 && next == "=") {
        ++i;
      }
      if (maxlen) {
        if (!ParseLongLongOrReply(c, c.args[i + 1], &a->trim.maxlen)) return -1;
        if (a->trim.maxlen < 0) {
          c.reply.Error("ERR The MAXLEN argument must be >= 0.");
          return -1;
        }
        a->trim.strategy = TS::kMaxLen;
      } else {
        if (!ParseIdOrReply(c, c.args[i + 1], &a->trim.minid, 0, true)) return -1;
        a->trim.strategy = TS::kMinId;
      }
      ++i;
      a->trim_arg_idx = i;
    } else if (EqualsIgnoreCase(opt, "limit") && moreargs) {
      if (!ParseLongLongOrReply(c, c.args[i + 1], &a->trim.limit)) return -1;
      if (a->trim.limit < 0) {
        c.reply.Error("ERR The LIMIT argument must be >= 0.");
        return -1;
      }
      limit_given = true;
      a->limit_idx = i;
      ++i;
    } else if (xadd && EqualsIgnoreCase(opt, "nomkstream")) {
      a->no_mkstream = true;
    } else if (xadd) {
      if (!ParseStreamId(opt, &a->id, 0, true, &a->seq_given)) {
        c.reply.Error(kInvalidId);
        return -1;
      }
      a->id_given = true;
      break;
    } else {
      c.reply.Error(errors::kSyntax);
      return -1;
    }
  }
  if (a->trim.limit && a->trim.strategy == TS::kNone) {
    c.reply.Error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
    return -1;
  }
  if (!xadd && a->trim.strategy == TS::kNone) {
    c.reply.Error("ERR syntax error, XTRIM must be called with a trimming strategy");
    return -1;
  }
  if (limit_given) {
    if (!a->trim.approx) {
      c.reply.Error("ERR syntax error, LIMIT cannot be used without the special ~ option");
      return -1;
    }
  } else if (a->trim.approx) {
    int64_t entries = GetStoreConfig().stream_node_max_entries.load(std::memory_order_relaxed);
    a->trim.limit = 100 * entries;
    if (a->trim.limit <= 0) a->trim.limit = 10000;
    if (a->trim.limit > 1000000) a->trim.limit = 1000000;
  } else {
    a->trim.limit = 0;
  }
  return static_cast<ptrdiff_t>(i);
}

// The command to propagate after an approximate trim: "~" becomes "=" and the
// threshold the resulting length (MAXLEN) or first id (MINID); LIMIT goes (it is
// meaningless with "=" and a replica would refuse it).
void RewriteApproxTrim(const StreamObject& s, const AddTrimArgs& a, std::vector<std::string>* argv) {
  (*argv)[a.trim_arg_idx - 1] = "=";
  if (a.trim.strategy == StreamObject::TrimStrategy::kMaxLen) {
    (*argv)[a.trim_arg_idx] = std::to_string(s.length());
  } else {
    StreamId first = kMaxStreamId;
    s.FirstEntryId(&first);
    (*argv)[a.trim_arg_idx] = FormatStreamId(first);
  }
  if (a.limit_idx) argv->erase(argv->begin() + a.limit_idx, argv->begin() + a.limit_idx + 2);
}

int64_t NodeMaxBytes() { return GetStoreConfig().stream_node_max_bytes.load(std::memory_order_relaxed); }
int64_t NodeMaxEntries() { return GetStoreConfig().stream_node_max_entries.load(std::memory_order_relaxed); }

// --- commands ---

void XAddCommand(CommandContext& c) {
  AddTrimArgs a;
  ptrdiff_t idpos = ParseAddOrTrim(c, true, &a);
  if (idpos < 0) return;
  size_t field_pos = static_cast<size_t>(idpos) + 1;
  size_t nfv = c.args.size() - std::min(field_pos, c.args.size());
  if (nfv < 2 || nfv % 2 == 1) {
    c.reply.Error(errors::WrongArity("xadd"));
    return;
  }
  if (a.id_given && a.seq_given && a.id == kMinStreamId) {
    c.reply.Error("ERR The ID specified in XADD must be greater than 0-0");
    return;
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  if (!slot) {
    if (a.no_mkstream) {
      c.reply.Null();
      return;
    }
    slot = AddObjectKey(c.shard, c.db, c.args[1], std::make_unique<StreamObject>());
  }
  StreamObject* s = StreamOf(slot);
  StreamId last = s->last_id();
  if (last == kMaxStreamId) {
    c.reply.Error("ERR The stream has exhausted the last possible ID, unable to add more items");
    return;
  }
  StreamId id;
  bool ok = true;
  if (!a.id_given) {
    uint64_t now = static_cast<uint64_t>(c.now_ms);
    if (now > last.ms) {
      id = {now, 0};
    } else {
      id = last;
      IncrStreamId(&id);
    }
  } else if (!a.seq_given) {
    if (a.id.ms == last.ms) {
      if (last.seq == UINT64_MAX) ok = false;
      else id = {last.ms, last.seq + 1};
    } else {
      id = {a.id.ms, 0};
    }
  } else {
    id = a.id;
  }
  if (!ok || id <= last) {
    if (s->length() == 0 && s->group_count() == 0 && s->entries_added() == 0 && last == kMinStreamId) {
      // Never happens for a new key (0-0 was refused above); kept for safety.
    }
    c.reply.Error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    return;
  }
  s->Append(id, c.args.subspan(field_pos), NodeMaxBytes(), NodeMaxEntries());
  std::string idstr = FormatStreamId(id);
  c.reply.Bulk(idstr);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyStream, "xadd", c.db, c.args[1]);
  bool rewrite = !a.id_given || !a.seq_given;
  std::vector<std::string> argv;
  if (a.trim.strategy != StreamObject::TrimStrategy::kNone) {
    if (s->Trim(a.trim) > 0) c.shard.NotifyKeyspaceEvent(kNotifyStream, "xtrim", c.db, c.args[1]);
    if (a.trim.approx) {
      argv = ToStrings(c.args);
      RewriteApproxTrim(*s, a, &argv);
      size_t shift = (a.limit_idx && a.limit_idx < static_cast<size_t>(idpos)) ? 2 : 0;
      if (rewrite) argv[static_cast<size_t>(idpos) - shift] = idstr;
      PropagateStrings(c.effects, argv);
      return;
    }
  }
  if (rewrite) {
    argv = ToStrings(c.args);
    argv[static_cast<size_t>(idpos)] = idstr;
    PropagateStrings(c.effects, argv);
  }
}

void XRangeGeneric(CommandContext& c, bool rev) {
  std::string_view startarg = rev ? c.args[3] : c.args[2];
  std::string_view endarg = rev ? c.args[2] : c.args[3];
  StreamId start, end;
  if (!ParseRangeStart(c, startarg, &start) || !ParseRangeEnd(c, endarg, &end)) return;
  int64_t count = -1;
  for (size_t j = 4; j < c.args.size(); ++j) {
    size_t additional = c.args.size() - j - 1;
    if (EqualsIgnoreCase(c.args[j], "count") && additional >= 1) {
      if (!ParseLongLongOrReply(c, c.args[j + 1], &count)) return;
      if (count < 0) count = 0;
      ++j;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kStream, &slot)) return;
  if (!slot) {
    c.reply.ArrayHeader(0);
    return;
  }
  if (count == 0) {
    c.reply.NullArray();
    return;
  }
  ReplyRange(c.reply, *StreamOf(slot), start, end, count == -1 ? 0 : static_cast<size_t>(count), rev);
}

void XRangeCommand(CommandContext& c) { XRangeGeneric(c, false); }
void XRevRangeCommand(CommandContext& c) { XRangeGeneric(c, true); }

void XLenCommand(CommandContext& c) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kStream, &slot)) return;
  c.reply.Integer(slot ? static_cast<int64_t>(StreamOf(slot)->length()) : 0);
}

void XDelCommand(CommandContext& c) {
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  if (!slot) {
    c.reply.Integer(0);
    return;
  }
  std::vector<StreamId> ids(c.args.size() - 2);
  for (size_t j = 2; j < c.args.size(); ++j)
    if (!ParseIdOrReply(c, c.args[j], &ids[j - 2], 0, true)) return;
  StreamObject* s = StreamOf(slot);
  int64_t deleted = 0;
  bool first_entry = false;
  for (StreamId id : ids) {
    if (!s->Delete(id)) continue;
    if (id == s->first_id()) first_entry = true;
    if (id > s->max_deleted_id()) s->set_max_deleted_id(id);
    ++deleted;
  }
  if (deleted) {
    if (s->length() == 0) {
      s->set_first_id(kMinStreamId);
    } else if (first_entry) {
      StreamId first;
      s->FirstEntryId(&first);
      s->set_first_id(first);
    }
    c.effects.MarkDirty(static_cast<uint64_t>(deleted));
    c.shard.NotifyKeyspaceEvent(kNotifyStream, "xdel", c.db, c.args[1]);
  }
  c.reply.Integer(deleted);
}

void XTrimCommand(CommandContext& c) {
  AddTrimArgs a;
  if (ParseAddOrTrim(c, false, &a) < 0) return;
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  if (!slot) {
    c.reply.Integer(0);
    return;
  }
  StreamObject* s = StreamOf(slot);
  int64_t deleted = s->Trim(a.trim);
  if (deleted) {
    c.effects.MarkDirty(static_cast<uint64_t>(deleted));
    c.shard.NotifyKeyspaceEvent(kNotifyStream, "xtrim", c.db, c.args[1]);
    if (a.trim.approx) {
      std::vector<std::string> argv = ToStrings(c.args);
      RewriteApproxTrim(*s, a, &argv);
      PropagateStrings(c.effects, argv);
    }
  }
  c.reply.Integer(deleted);
}

void XSetIdCommand(CommandContext& c) {
  StreamId id, max_xdel{};
  if (!ParseIdOrReply(c, c.args[2], &id, 0, true)) return;
  int64_t entries_added = -1;
  for (size_t i = 3; i < c.args.size();) {
    size_t moreargs = c.args.size() - 1 - i;
    std::string_view opt = c.args[i];
    if (EqualsIgnoreCase(opt, "entriesadded") && moreargs) {
      if (!ParseLongLongOrReply(c, c.args[i + 1], &entries_added)) return;
      if (entries_added < 0) {
        c.reply.Error("ERR entries_added must be positive");
        return;
      }
      i += 2;
    } else if (EqualsIgnoreCase(opt, "maxdeletedid") && moreargs) {
      if (!ParseIdOrReply(c, c.args[i + 1], &max_xdel, 0, true)) return;
      if (id < max_xdel) {
        c.reply.Error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
        return;
      }
      i += 2;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  if (!slot) {
    c.reply.Error(kNoKey);
    return;
  }
  StreamObject* s = StreamOf(slot);
  if (s->length() > 0) {
    StreamId maxid;
    s->LastEntryId(&maxid);
    if (id < maxid) {
      c.reply.Error("ERR The ID specified in XSETID is smaller than the target stream top item");
      return;
    }
    if (entries_added != -1 && s->length() > static_cast<uint64_t>(entries_added)) {
      c.reply.Error("ERR The entries_added specified in XSETID is smaller than the target stream length");
      return;
    }
  }
  // (Redis 7.0 has no check against the current max_deleted_entry_id; 7.2 added one.)
  s->set_last_id(id);
  if (entries_added != -1) s->set_entries_added(static_cast<uint64_t>(entries_added));
  if (max_xdel != kMinStreamId) s->set_max_deleted_id(max_xdel);
  c.effects.MarkDirty();
  c.shard.NotifyKeyspaceEvent(kNotifyStream, "xsetid", c.db, c.args[1]);
  c.reply.Ok();
}

// --- consumer groups ---

using Group = StreamObject::Group;
using Consumer = StreamObject::Consumer;
using PendingEntry = StreamObject::PendingEntry;

std::string NoGroupError(std::string_view key, std::string_view group) {
  return "NOGROUP No such key '" + std::string(key) + "' or consumer group '" + std::string(group) + "'";
}

// XCLAIM <key> <group> <consumer> 0 <id> TIME <ms> RETRYCOUNT <n> FORCE JUSTID LASTID <id>:
// how Redis replicates every change of a PEL entry's owner or delivery data.
void PropagateXClaim(Effects& e, std::string_view key, std::string_view group_name, const Group& g, StreamId id,
                     const PendingEntry& pe) {
  std::string ids = FormatStreamId(id), time = std::to_string(pe.delivery_time),
              count = std::to_string(pe.delivery_count), last = FormatStreamId(g.last_id);
  e.Propagate({"XCLAIM", key, group_name, pe.consumer->name, "0", ids, "TIME", time, "RETRYCOUNT", count, "FORCE",
               "JUSTID", "LASTID", last});
}

void PropagateSetId(Effects& e, std::string_view key, std::string_view group_name, const Group& g) {
  std::string last = FormatStreamId(g.last_id), er = std::to_string(g.entries_read);
  e.Propagate({"XGROUP", "SETID", key, group_name, last, "ENTRIESREAD", er});
}

std::string SubcommandSyntaxError(std::string_view sub, std::string_view container) {
  return "ERR unknown subcommand or wrong number of arguments for '" + std::string(sub) + "'. Try " +
         std::string(container) + " HELP.";
}

// Redis 7.0 checks a subcommand's arity like a command's ("container|sub").
bool SubcommandOk(CommandContext& c, std::string_view container,
                  std::initializer_list<std::pair<std::string_view, int>> arities) {
  std::string sub = ToLower(c.args[1]);
  for (auto [name, arity] : arities) {
    if (sub != name) continue;
    if (!CommandSpec::ArityAllows(arity, c.args.size())) {
      c.reply.Error(errors::WrongArity(std::string(container) + "|" + sub));
      return false;
    }
    return true;
  }
  std::string upper(container);
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1]) + "'. Try " + upper + " HELP.");
  return false;
}

void ReplyHelp(CommandContext& c, std::initializer_list<std::string_view> lines) { c.reply.SimpleStringArray(lines); }

void XGroupCommand(CommandContext& c) {
  if (!SubcommandOk(c, "xgroup",
                    {{"create", -5}, {"setid", -5}, {"destroy", 4}, {"createconsumer", 5}, {"delconsumer", 5},
                     {"help", 2}}))
    return;
  std::string_view opt = c.args[1];
  if (EqualsIgnoreCase(opt, "help")) {
    ReplyHelp(c, {"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                  "CREATE <key> <groupname> <id|$> [option]",
                  "    Create a new consumer group. Options are:",
                  "    * MKSTREAM",
                  "      Create the empty stream if it does not exist.",
                  "    * ENTRIESREAD entries_read",
                  "      Set the group's entries_read counter (internal use).",
                  "CREATECONSUMER <key> <groupname> <consumer>",
                  "    Create a new consumer in the specified group.",
                  "DELCONSUMER <key> <groupname> <consumer>",
                  "    Remove the specified consumer.",
                  "DESTROY <key> <groupname>",
                  "    Remove the specified group.",
                  "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                  "    Set the current group ID and entries_read counter.",
                  "HELP",
                  "    Prints this help."});
    return;
  }
  bool create = EqualsIgnoreCase(opt, "create"), setid = EqualsIgnoreCase(opt, "setid");
  bool mkstream = false;
  int64_t entries_read = StreamObject::kInvalidEntriesRead;
  if (create || setid) {
    for (size_t i = 5; i < c.args.size();) {
      if (create && EqualsIgnoreCase(c.args[i], "mkstream")) {
        mkstream = true;
        ++i;
      } else if (EqualsIgnoreCase(c.args[i], "entriesread") && i + 1 < c.args.size()) {
        if (!ParseLongLongOrReply(c, c.args[i + 1], &entries_read)) return;
        if (entries_read < 0 && entries_read != StreamObject::kInvalidEntriesRead) {
          c.reply.Error("ERR value for ENTRIESREAD must be positive or -1");
          return;
        }
        i += 2;
      } else {
        c.reply.Error(SubcommandSyntaxError(opt, "XGROUP"));
        return;
      }
    }
  }
  std::string_view key = c.args[2], grpname = c.args[3];
  Slot* slot;
  if (!FindTypedForWrite(c, key, ValueType::kStream, &slot)) return;
  StreamObject* s = StreamOf(slot);
  Group* cg = nullptr;
  if (!mkstream) {
    if (!s) {
      c.reply.Error(
          "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the "
          "MKSTREAM option to create an empty stream automatically.");
      return;
    }
    cg = s->FindGroup(grpname);
    if (!cg && !create && !EqualsIgnoreCase(opt, "destroy")) {
      c.reply.Error("NOGROUP No such consumer group '" + std::string(grpname) + "' for key name '" +
                    std::string(key) + "'");
      return;
    }
  }
  if (create && c.args.size() <= 8) {
    StreamId id;
    if (c.args[4] == "$") {
      id = s ? s->last_id() : kMinStreamId;
    } else if (!ParseIdOrReply(c, c.args[4], &id, 0, true)) {
      return;
    }
    if (!s) {
      slot = AddObjectKey(c.shard, c.db, key, std::make_unique<StreamObject>());
      s = StreamOf(slot);
    }
    if (s->CreateGroup(grpname, id, entries_read)) {
      c.effects.MarkDirty();
      c.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-create", c.db, key);
      c.reply.Ok();
    } else {
      c.reply.Error("BUSYGROUP Consumer Group name already exists");
    }
  } else if (setid && (c.args.size() == 5 || c.args.size() == 7)) {
    StreamId id;
    if (c.args[4] == "$") {
      id = s->last_id();
    } else if (!ParseIdOrReply(c, c.args[4], &id, 0, false)) {
      return;
    }
    cg->last_id = id;
    cg->entries_read = entries_read;
    c.effects.MarkDirty();
    c.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-setid", c.db, key);
    c.reply.Ok();
  } else if (EqualsIgnoreCase(opt, "destroy") && c.args.size() == 4) {
    if (cg) {
      s->DestroyGroup(grpname);
      c.effects.MarkDirty();
      c.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-destroy", c.db, key);
      c.reply.Integer(1);
    } else {
      c.reply.Integer(0);
    }
  } else if (EqualsIgnoreCase(opt, "createconsumer") && c.args.size() == 5) {
    bool created = cg->CreateConsumer(c.args[4], c.now_ms) != nullptr;
    if (created) {
      c.effects.MarkDirty();
      c.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-createconsumer", c.db, key);
    }
    c.reply.Integer(created ? 1 : 0);
  } else if (EqualsIgnoreCase(opt, "delconsumer") && c.args.size() == 5) {
    size_t pending = 0;
    if (cg->FindConsumer(c.args[4])) {
      pending = cg->DeleteConsumer(c.args[4]);
      c.effects.MarkDirty();
      c.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-delconsumer", c.db, key);
    }
    c.reply.Integer(static_cast<int64_t>(pending));
  } else {
    c.reply.Error(SubcommandSyntaxError(opt, "XGROUP"));
  }
}

void XAckCommand(CommandContext& c) {
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  Group* g = slot ? StreamOf(slot)->FindGroup(c.args[2]) : nullptr;
  if (!g) {
    c.reply.Integer(0);
    return;
  }
  std::vector<StreamId> ids(c.args.size() - 3);
  for (size_t j = 3; j < c.args.size(); ++j)
    if (!ParseIdOrReply(c, c.args[j], &ids[j - 3], 0, true)) return;
  int64_t acked = 0;
  for (StreamId id : ids) {
    auto it = g->pel.find(id);
    if (it == g->pel.end()) continue;
    it->second.consumer->pel.erase(id);
    g->pel.erase(it);
    ++acked;
  }
  if (acked) c.effects.MarkDirty(static_cast<uint64_t>(acked));
  c.reply.Integer(acked);
}

void XPendingCommand(CommandContext& c) {
  bool justinfo = c.args.size() == 3;
  std::string_view key = c.args[1], groupname = c.args[2];
  std::optional<std::string_view> consumername;
  StreamId start, end;
  int64_t count = 0, minidle = 0;
  if (c.args.size() != 3 && (c.args.size() < 6 || c.args.size() > 9)) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  if (c.args.size() >= 6) {
    size_t startidx = 3;
    if (EqualsIgnoreCase(c.args[3], "idle")) {
      if (!ParseLongLongOrReply(c, c.args[4], &minidle)) return;
      if (c.args.size() < 8) {
        c.reply.Error(errors::kSyntax);
        return;
      }
      startidx += 2;
    }
    if (!ParseLongLongOrReply(c, c.args[startidx + 2], &count)) return;
    if (count < 0) count = 0;
    if (!ParseRangeStart(c, c.args[startidx], &start) || !ParseRangeEnd(c, c.args[startidx + 1], &end)) return;
    if (startidx + 3 < c.args.size()) consumername = c.args[startidx + 3];
  }
  const Slot* slot;
  if (!FindTyped(c, key, ValueType::kStream, &slot)) return;
  Group* g = slot ? StreamOf(slot)->FindGroup(groupname) : nullptr;
  if (!g) {
    c.reply.Error(NoGroupError(key, groupname));
    return;
  }
  if (justinfo) {
    c.reply.ArrayHeader(4);
    c.reply.Integer(static_cast<int64_t>(g->pel.size()));
    if (g->pel.empty()) {
      c.reply.Null();
      c.reply.Null();
      c.reply.NullArray();
      return;
    }
    ReplyId(c.reply, g->pel.begin()->first);
    ReplyId(c.reply, g->pel.rbegin()->first);
    size_t n = 0;
    for (const auto& [name, cons] : g->consumers) n += !cons->pel.empty();
    c.reply.ArrayHeader(n);
    for (const auto& [name, cons] : g->consumers) {
      if (cons->pel.empty()) continue;
      c.reply.ArrayHeader(2);
      c.reply.Bulk(name);
      c.reply.Bulk(std::to_string(cons->pel.size()));
    }
    return;
  }
  std::vector<std::pair<StreamId, const PendingEntry*>> out;
  auto visit = [&](StreamId id, const PendingEntry& pe) {
    if (minidle && c.now_ms - pe.delivery_time < minidle) return;
    out.emplace_back(id, &pe);
    --count;
  };
  if (consumername) {
    Consumer* cons = g->FindConsumer(*consumername);
    if (!cons) {
      c.reply.ArrayHeader(0);
      return;
    }
    for (auto it = cons->pel.lower_bound(start); count && it != cons->pel.end() && *it <= end; ++it)
      visit(*it, g->pel.at(*it));
  } else {
    for (auto it = g->pel.lower_bound(start); count && it != g->pel.end() && it->first <= end; ++it)
      visit(it->first, it->second);
  }
  c.reply.ArrayHeader(out.size());
  for (auto [id, pe] : out) {
    c.reply.ArrayHeader(4);
    ReplyId(c.reply, id);
    c.reply.Bulk(pe->consumer->name);
    c.reply.Integer(std::max<int64_t>(0, c.now_ms - pe->delivery_time));
    c.reply.Integer(static_cast<int64_t>(pe->delivery_count));
  }
}

// Moves a PEL entry to `consumer` (creating the consumer on first use).
Consumer* ClaimTo(CommandContext& c, Group& g, Consumer* consumer, std::string_view name, StreamId id,
                  PendingEntry& pe) {
  if (!consumer) {
    consumer = g.FindConsumer(name);
    if (consumer) consumer->seen_time = c.now_ms;
    else {
      consumer = g.CreateConsumer(name, c.now_ms);
      c.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-createconsumer", c.db, c.args[1]);
    }
  }
  if (pe.consumer != consumer) {
    if (pe.consumer) pe.consumer->pel.erase(id);
    consumer->pel.insert(id);
    pe.consumer = consumer;
  }
  consumer->active_time = c.now_ms;
  return consumer;
}

// Drops a PEL entry whose stream entry was deleted (XCLAIM/XAUTOCLAIM, 7.0).
void DropPending(CommandContext& c, std::string_view group_name, Group& g, std::map<StreamId, PendingEntry>::iterator it) {
  PropagateXClaim(c.effects, c.args[1], group_name, g, it->first, it->second);
  c.effects.MarkDirty();
  it->second.consumer->pel.erase(it->first);
  g.pel.erase(it);
}

void XClaimCommand(CommandContext& c) {
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  StreamObject* s = StreamOf(slot);
  Group* g = s ? s->FindGroup(c.args[2]) : nullptr;
  if (!g) {
    c.reply.Error(NoGroupError(c.args[1], c.args[2]));
    return;
  }
  int64_t minidle;
  if (!ParseLongLongOrReply(c, c.args[4], &minidle, "Invalid min-idle-time argument for XCLAIM")) return;
  if (minidle < 0) minidle = 0;
  size_t j = 5;
  std::vector<StreamId> ids;
  for (; j < c.args.size(); ++j) {
    StreamId id;
    if (!ParseStreamId(c.args[j], &id, 0, true)) break;
    ids.push_back(id);
  }
  int64_t now = c.now_ms, deliverytime = -1, retrycount = -1;
  bool force = false, justid = false, propagate_last_id = false;
  for (; j < c.args.size(); ++j) {
    size_t moreargs = c.args.size() - 1 - j;
    std::string_view opt = c.args[j];
    if (EqualsIgnoreCase(opt, "force")) {
      force = true;
    } else if (EqualsIgnoreCase(opt, "justid")) {
      justid = true;
    } else if (EqualsIgnoreCase(opt, "idle") && moreargs) {
      if (!ParseLongLongOrReply(c, c.args[++j], &deliverytime, "Invalid IDLE option argument for XCLAIM")) return;
      deliverytime = now - deliverytime;
    } else if (EqualsIgnoreCase(opt, "time") && moreargs) {
      if (!ParseLongLongOrReply(c, c.args[++j], &deliverytime, "Invalid TIME option argument for XCLAIM")) return;
    } else if (EqualsIgnoreCase(opt, "retrycount") && moreargs) {
      if (!ParseLongLongOrReply(c, c.args[++j], &retrycount, "Invalid RETRYCOUNT option argument for XCLAIM"))
        return;
    } else if (EqualsIgnoreCase(opt, "lastid") && moreargs) {
      StreamId last;
      if (!ParseIdOrReply(c, c.args[++j], &last, 0, true)) return;
      if (last > g->last_id) {
        g->last_id = last;
        propagate_last_id = true;
      }
    } else {
      c.reply.Error("ERR Unrecognized XCLAIM option '" + std::string(opt) + "'");
      return;
    }
  }
  if (deliverytime != -1) {
    if (deliverytime < 0 || deliverytime > now) deliverytime = now;
  } else {
    deliverytime = now;
  }
  std::string body;
  ReplyBuilder tmp(&body);
  tmp.SetProtocol(c.reply.protocol());
  size_t n = 0;
  Consumer* consumer = nullptr;
  for (StreamId id : ids) {
    auto it = g->pel.find(id);
    if (!s->Lookup(id)) {
      if (it != g->pel.end()) {
        DropPending(c, c.args[2], *g, it);
        propagate_last_id = false;
      }
      continue;
    }
    if (force && it == g->pel.end()) it = g->pel.emplace(id, PendingEntry{now, 1, nullptr}).first;  // a new NACK counts 1 delivery
    if (it == g->pel.end()) continue;
    PendingEntry& pe = it->second;
    if (pe.consumer && minidle && now - pe.delivery_time < minidle) continue;
    consumer = ClaimTo(c, *g, consumer, c.args[3], id, pe);
    pe.delivery_time = deliverytime;
    if (retrycount >= 0) pe.delivery_count = static_cast<uint64_t>(retrycount);
    else if (!justid) pe.delivery_count++;
    if (justid) ReplyId(tmp, id);
    else if (!ReplyOneEntry(tmp, *s, id)) tmp.Null();
    ++n;
    PropagateXClaim(c.effects, c.args[1], c.args[2], *g, id, pe);
    c.effects.MarkDirty();
    propagate_last_id = false;
  }
  if (propagate_last_id) {
    PropagateSetId(c.effects, c.args[1], c.args[2], *g);
    c.effects.MarkDirty();
  }
  c.reply.ArrayHeader(n);
  c.reply.Raw(body);
}

void XAutoClaimCommand(CommandContext& c) {
  int64_t minidle;
  if (!ParseLongLongOrReply(c, c.args[4], &minidle, "Invalid min-idle-time argument for XAUTOCLAIM")) return;
  if (minidle < 0) minidle = 0;
  StreamId start;
  if (!ParseRangeStart(c, c.args[5], &start)) return;
  int64_t count = 100;
  bool justid = false;
  constexpr int64_t kAttemptsFactor = 10;
  for (size_t j = 6; j < c.args.size(); ++j) {
    size_t moreargs = c.args.size() - 1 - j;
    if (EqualsIgnoreCase(c.args[j], "count") && moreargs) {
      auto v = ParseInt64(c.args[j + 1]);
      if (!v || *v < 1 || *v > INT64_MAX / kAttemptsFactor / 2) {
        c.reply.Error("ERR COUNT must be > 0");
        return;
      }
      count = *v;
      ++j;
    } else if (EqualsIgnoreCase(c.args[j], "justid")) {
      justid = true;
    } else {
      c.reply.Error(errors::kSyntax);
      return;
    }
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kStream, &slot)) return;
  StreamObject* s = StreamOf(slot);
  Group* g = s ? s->FindGroup(c.args[2]) : nullptr;
  if (!g) {
    c.reply.Error(NoGroupError(c.args[1], c.args[2]));
    return;
  }
  int64_t attempts = count * kAttemptsFactor;
  std::string body;
  ReplyBuilder tmp(&body);
  tmp.SetProtocol(c.reply.protocol());
  size_t n = 0;
  std::vector<StreamId> deleted;
  Consumer* consumer = nullptr;
  auto it = g->pel.lower_bound(start);
  bool eof = false;
  while (attempts-- && count) {
    if (it == g->pel.end()) {
      eof = true;
      break;
    }
    StreamId id = it->first;
    if (!s->Lookup(id)) {
      auto next = std::next(it);
      DropPending(c, c.args[2], *g, it);
      it = next;
      deleted.push_back(id);
      --count;
      continue;
    }
    PendingEntry& pe = it->second;
    if (minidle && c.now_ms - pe.delivery_time < minidle) {
      ++it;
      continue;
    }
    consumer = ClaimTo(c, *g, consumer, c.args[3], id, pe);
    pe.delivery_time = c.now_ms;
    if (!justid) pe.delivery_count++;
    if (justid) ReplyId(tmp, id);
    else if (!ReplyOneEntry(tmp, *s, id)) tmp.Null();
    ++n;
    --count;
    PropagateXClaim(c.effects, c.args[1], c.args[2], *g, id, pe);
    c.effects.MarkDirty();
    ++it;
  }
  StreamId cursor = (eof || it == g->pel.end()) ? kMinStreamId : it->first;
  c.reply.ArrayHeader(3);
  ReplyId(c.reply, cursor);
  c.reply.ArrayHeader(n);
  c.reply.Raw(body);
  c.reply.ArrayHeader(deleted.size());
  for (StreamId id : deleted) ReplyId(c.reply, id);
}

// --- XINFO ---

void ReplyLag(ReplyBuilder& rb, const StreamObject& s, const Group& g) {
  if (!s.entries_added()) {
    rb.Integer(0);
  } else if (g.entries_read != StreamObject::kInvalidEntriesRead && !s.RangeHasTombstones(g.last_id, kMaxStreamId)) {
    rb.Integer(static_cast<int64_t>(s.entries_added()) - g.entries_read);
  } else {
    int64_t er = s.EstimateDistanceFromFirstEverEntry(g.last_id);
    if (er != StreamObject::kInvalidEntriesRead) rb.Integer(static_cast<int64_t>(s.entries_added()) - er);
    else rb.Null();
  }
}

void ReplyEntriesRead(ReplyBuilder& rb, const Group& g) {
  if (g.entries_read != StreamObject::kInvalidEntriesRead) rb.Integer(g.entries_read);
  else rb.Null();
}

// Redis's rax->numnodes has no equivalent here; report a plausible figure: one
// node per key plus the root.
size_t RadixNodes(const StreamObject& s) { return s.node_count() ? s.node_count() + 1 : 1; }

void XInfoStream(CommandContext& c, StreamObject& s) {
  bool full = true;
  int64_t count = 10;
  size_t optc = c.args.size() - 3;
  if (optc == 0) {
    full = false;
  } else {
    if ((optc != 1 && optc != 3) || !EqualsIgnoreCase(c.args[3], "full") ||
        (optc == 3 && !EqualsIgnoreCase(c.args[4], "count"))) {
      c.reply.Error(SubcommandSyntaxError(c.args[1], "XINFO"));
      return;
    }
    if (optc == 3) {
      if (!ParseLongLongOrReply(c, c.args[5], &count)) return;
      if (count < 0) count = 10;
    }
  }
  ReplyBuilder& rb = c.reply;
  rb.MapHeader(full ? 9 : 10);
  rb.Bulk("length");
  rb.Integer(static_cast<int64_t>(s.length()));
  rb.Bulk("radix-tree-keys");
  rb.Integer(static_cast<int64_t>(s.node_count()));
  rb.Bulk("radix-tree-nodes");
  rb.Integer(static_cast<int64_t>(RadixNodes(s)));
  rb.Bulk("last-generated-id");
  ReplyId(rb, s.last_id());
  rb.Bulk("max-deleted-entry-id");
  ReplyId(rb, s.max_deleted_id());
  rb.Bulk("entries-added");
  rb.Integer(static_cast<int64_t>(s.entries_added()));
  rb.Bulk("recorded-first-entry-id");
  ReplyId(rb, s.first_id());
  if (!full) {
    rb.Bulk("groups");
    rb.Integer(static_cast<int64_t>(s.group_count()));
    rb.Bulk("first-entry");
    StreamId id;
    if (!s.FirstEntryId(&id) || !ReplyOneEntry(rb, s, id)) rb.Null();
    rb.Bulk("last-entry");
    if (!s.LastEntryId(&id) || !ReplyOneEntry(rb, s, id)) rb.Null();
    return;
  }
  rb.Bulk("entries");
  ReplyRange(rb, s, kMinStreamId, kMaxStreamId, static_cast<size_t>(count), false);
  rb.Bulk("groups");
  const auto* groups = s.groups_if_any();
  rb.ArrayHeader(groups ? groups->size() : 0);
  if (!groups) return;
  for (const auto& [name, g] : *groups) {
    rb.MapHeader(7);
    rb.Bulk("name");
    rb.Bulk(name);
    rb.Bulk("last-delivered-id");
    ReplyId(rb, g.last_id);
    rb.Bulk("entries-read");
    ReplyEntriesRead(rb, g);
    rb.Bulk("lag");
    ReplyLag(rb, s, g);
    rb.Bulk("pel-count");
    rb.Integer(static_cast<int64_t>(g.pel.size()));
    rb.Bulk("pending");
    size_t n = count ? std::min<size_t>(g.pel.size(), static_cast<size_t>(count)) : g.pel.size();
    rb.ArrayHeader(n);
    size_t k = 0;
    for (auto it = g.pel.begin(); k < n; ++it, ++k) {
      rb.ArrayHeader(4);
      ReplyId(rb, it->first);
      rb.Bulk(it->second.consumer->name);
      rb.Integer(it->second.delivery_time);
      rb.Integer(static_cast<int64_t>(it->second.delivery_count));
    }
    rb.Bulk("consumers");
    rb.ArrayHeader(g.consumers.size());
    for (const auto& [cname, cons] : g.consumers) {
      rb.MapHeader(4);
      rb.Bulk("name");
      rb.Bulk(cname);
      rb.Bulk("seen-time");
      rb.Integer(cons->seen_time);
      rb.Bulk("pel-count");
      rb.Integer(static_cast<int64_t>(cons->pel.size()));
      rb.Bulk("pending");
      size_t m = count ? std::min<size_t>(cons->pel.size(), static_cast<size_t>(count)) : cons->pel.size();
      rb.ArrayHeader(m);
      size_t q = 0;
      for (auto it = cons->pel.begin(); q < m; ++it, ++q) {
        const PendingEntry& pe = g.pel.at(*it);
        rb.ArrayHeader(3);
        ReplyId(rb, *it);
        rb.Integer(pe.delivery_time);
        rb.Integer(static_cast<int64_t>(pe.delivery_count));
      }
    }
  }
}

void XInfoCommand(CommandContext& c) {
  if (!SubcommandOk(c, "xinfo", {{"stream", -3}, {"groups", 3}, {"consumers", 4}, {"help", 2}})) return;
  if (EqualsIgnoreCase(c.args[1], "help")) {
    ReplyHelp(c, {"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                  "CONSUMERS <key> <groupname>",
                  "    Show consumers of <groupname>.",
                  "GROUPS <key>",
                  "    Show the stream consumer groups.",
                  "STREAM <key> [FULL [COUNT <count>]",
                  "    Show information about the stream.",
                  "HELP",
                  "    Prints this help."});
    return;
  }
  std::string_view key = c.args[2];
  const Slot* slot;
  if (!FindTyped(c, key, ValueType::kStream, &slot)) return;
  if (!slot) {
    c.reply.Error(kNoKey);
    return;
  }
  StreamObject& s = *StreamOf(slot);
  if (EqualsIgnoreCase(c.args[1], "consumers")) {
    Group* g = s.FindGroup(c.args[3]);
    if (!g) {
      c.reply.Error("NOGROUP No such consumer group '" + std::string(c.args[3]) + "' for key name '" +
                    std::string(key) + "'");
      return;
    }
    c.reply.ArrayHeader(g->consumers.size());
    for (const auto& [name, cons] : g->consumers) {
      c.reply.MapHeader(3);
      c.reply.Bulk("name");
      c.reply.Bulk(name);
      c.reply.Bulk("pending");
      c.reply.Integer(static_cast<int64_t>(cons->pel.size()));
      c.reply.Bulk("idle");
      c.reply.Integer(std::max<int64_t>(0, c.now_ms - cons->seen_time));
    }
  } else if (EqualsIgnoreCase(c.args[1], "groups")) {
    const auto* groups = s.groups_if_any();
    c.reply.ArrayHeader(groups ? groups->size() : 0);
    if (!groups) return;
    for (const auto& [name, g] : *groups) {
      c.reply.MapHeader(6);
      c.reply.Bulk("name");
      c.reply.Bulk(name);
      c.reply.Bulk("consumers");
      c.reply.Integer(static_cast<int64_t>(g.consumers.size()));
      c.reply.Bulk("pending");
      c.reply.Integer(static_cast<int64_t>(g.pel.size()));
      c.reply.Bulk("last-delivered-id");
      ReplyId(c.reply, g.last_id);
      c.reply.Bulk("entries-read");
      ReplyEntriesRead(c.reply, g);
      c.reply.Bulk("lag");
      ReplyLag(c.reply, s, g);
    }
  } else {
    XInfoStream(c, s);
  }
}

// --- XREAD / XREADGROUP ---

struct ReadSpec {
  bool group_mode = false;
  bool has_group = false;
  std::string_view group, consumer;
  int64_t count = 0;
  bool noack = false;
  bool block = false;
  size_t streams_arg = 0;
  size_t streams = 0;
};

// Redis's option loop of xreadCommand. Returns an error reply or "".
std::string ParseReadSpec(ArgList args, ReadSpec* r) {
  r->group_mode = args[0].size() == 10;
  for (size_t i = 1; i < args.size(); ++i) {
    size_t moreargs = args.size() - i - 1;
    std::string_view o = args[i];
    if (EqualsIgnoreCase(o, "block") && moreargs) {
      ++i;
      int64_t block_ms = 0;
      if (std::string err = blocking::ParseTimeoutMillis(args[i], &block_ms); !err.empty()) return err;
      r->block = true;
    } else if (EqualsIgnoreCase(o, "count") && moreargs) {
      ++i;
      auto v = ParseInt64(args[i]);
      if (!v) return std::string(errors::kNotInteger);
      r->count = std::max<int64_t>(*v, 0);
    } else if (EqualsIgnoreCase(o, "streams") && moreargs) {
      r->streams_arg = i + 1;
      size_t n = args.size() - r->streams_arg;
      if (n % 2 != 0) {
        // Redis 7.0 words it so for XREADGROUP too.
        return "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
      }
      r->streams = n / 2;
      break;
    } else if (EqualsIgnoreCase(o, "group") && moreargs >= 2) {
      if (!r->group_mode) return "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
      r->has_group = true;
      r->group = args[i + 1];
      r->consumer = args[i + 2];
      i += 2;
    } else if (EqualsIgnoreCase(o, "noack")) {
      if (!r->group_mode) return "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
      r->noack = true;
    } else {
      return std::string(errors::kSyntax);
    }
  }
  if (r->streams_arg == 0) return std::string(errors::kSyntax);
  if (r->group_mode && !r->has_group) return "ERR Missing GROUP option for XREADGROUP";
  return {};
}

std::string ReadValidator(ArgList args) {
  ReadSpec r;
  return ParseReadSpec(args, &r);
}

std::vector<size_t> ReadKeys(ArgList args) {
  ReadSpec r;
  std::vector<size_t> keys;
  if (!ParseReadSpec(args, &r).empty()) return keys;
  for (size_t i = 0; i < r.streams; ++i) keys.push_back(r.streams_arg + i);
  return keys;
}

class XReadOp : public MultiShardOp {
 public:
  explicit XReadOp(ArgList args) {
    ParseReadSpec(args, &spec_);
    results_.resize(spec_.streams);
  }

  void RunHop(int hop, HopContext& h) override {
    for (size_t idx : h.key_indices) {
      size_t i = idx - spec_.streams_arg;
      if (hop == 0) Check(h, i);
      else Serve(h, i);
    }
  }

  HopPlan NextHop(int hop) override {
    if (hop == 0 && !FirstError() && spec_.group_mode) return {HopTarget::kKeyShards};
    return {HopTarget::kDone};
  }

  void Reply(ReplyBuilder& rb) override {
    if (const std::string* err = FirstError()) {
      rb.Error(*err);
      return;
    }
    size_t served = 0;
    for (const Result& r : results_) served += r.served;
    if (!served) {
      // With BLOCK this is the non-blocking form (MULTI/EXEC); a connection that can
      // wait does so in lib/server/blocking/blocking.cc.
      rb.NullArray();
      return;
    }
    if (rb.protocol() == 3) rb.MapHeader(served);
    else rb.ArrayHeader(served);
    for (const Result& r : results_) {
      if (!r.served) continue;
      if (rb.protocol() != 3) rb.ArrayHeader(2);
      rb.Bulk(r.key);
      rb.ArrayHeader(r.entries.size());
      for (const Entry& e : r.entries) {
        rb.ArrayHeader(2);
        ReplyId(rb, e.id);
        if (e.deleted) {
          rb.NullArray();
          continue;
        }
        rb.ArrayHeader(e.fv.size());
        for (const std::string& s : e.fv) rb.Bulk(s);
      }
    }
  }

 private:
  struct Entry {
    StreamId id;
    bool deleted = false;
    std::vector<std::string> fv;
  };
  struct Result {
    std::string key;
    std::string error;  // type / group error found in hop 0
    bool served = false;
    std::vector<Entry> entries;
  };

  std::string_view KeyArg(const HopContext& h, size_t i) const { return h.args[spec_.streams_arg + i]; }
  std::string_view IdArg(const HopContext& h, size_t i) const {
    return h.args[spec_.streams_arg + spec_.streams + i];
  }

  // The pure per-stream id error, in the order Redis checks it (after the key).
  std::string IdError(std::string_view arg) const {
    if (arg == "$") {
      if (spec_.group_mode)
        return "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this "
               "consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just "
               "return an empty result set.";
      return {};
    }
    if (arg == ">") {
      if (!spec_.group_mode)
        return "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> "
               "option.";
      return {};
    }
    StreamId id;
    if (!ParseStreamId(arg, &id, 0, true)) return std::string(kInvalidId);
    return {};
  }

  const std::string* FirstError() const {
    for (const Result& r : results_)
      if (!r.error.empty()) return &r.error;
    return nullptr;
  }

  void Check(HopContext& h, size_t i) {
    Result& r = results_[i];
    r.key = std::string(KeyArg(h, i));
    const Slot* slot = h.shard.FindForRead(h.db, r.key, h.now_ms);
    if (slot && slot->value.type() != ValueType::kStream) {
      r.error = std::string(errors::kWrongType);
      return;
    }
    StreamObject* s = StreamOf(slot);
    if (spec_.group_mode && (!s || !s->FindGroup(spec_.group))) {
      r.error = "NOGROUP No such key '" + r.key + "' or consumer group '" + std::string(spec_.group) +
                "' in XREADGROUP with GROUP option";
      return;
    }
    r.error = IdError(IdArg(h, i));
    if (r.error.empty() && !spec_.group_mode && !s) {
      // Redis's XREAD looks each key up twice (checking ids, then reading): a missing
      // one fires keymiss twice (per key here, where Redis does all keys, then all again).
      h.shard.NotifyKeyspaceEvent(kNotifyKeyMiss, "keymiss", h.db, r.key);
    }
    if (!r.error.empty() || spec_.group_mode || !s) return;
    // XREAD: serve now (no side effects).
    StreamId gt;
    std::string_view arg = IdArg(h, i);
    if (arg == "$") gt = s->last_id();
    else ParseStreamId(arg, &gt, 0, true);
    StreamId maxid;
    if (!s->length() || !s->LastEntryId(&maxid) || !(maxid > gt)) return;
    Collect(*s, gt, &r);
  }

  void Collect(const StreamObject& s, StreamId gt, Result* r) {
    r->served = true;
    if (!IncrStreamId(&gt)) return;
    size_t n = 0;
    s.Range(gt, kMaxStreamId, false, [&](StreamId id, StreamFields fv) {
      r->entries.push_back({id, false, {fv.begin(), fv.end()}});
      return !(spec_.count && ++n == static_cast<size_t>(spec_.count));
    });
  }

  void Serve(HopContext& h, size_t i) {
    Result& r = results_[i];
    Slot* slot = h.shard.FindLive(h.db, r.key, h.now_ms);
    StreamObject* s = StreamOf(slot);
    Group* g = s->FindGroup(spec_.group);
    std::string_view key = KeyArg(h, i), group_name = spec_.group;
    std::string_view arg = IdArg(h, i);
    size_t limit = static_cast<size_t>(spec_.count);
    StreamId maxid;
    bool history = arg != ">";
    // Redis 7.0 looks the consumer up (creating it) only when it serves this stream.
    if (!history && (!s->length() || !s->LastEntryId(&maxid) || !(maxid > g->last_id))) return;
    Consumer* consumer = g->FindConsumer(spec_.consumer);
    if (!consumer) {
      consumer = g->CreateConsumer(spec_.consumer, h.now_ms);
      h.effects.MarkDirty();
      h.shard.NotifyKeyspaceEvent(kNotifyStream, "xgroup-createconsumer", h.db, key);
      h.effects.Propagate({"XGROUP", "CREATECONSUMER", key, group_name, spec_.consumer});
    }
    consumer->seen_time = h.now_ms;
    if (history) {
      // History: this consumer's pending entries after the id.
      StreamId start;
      ParseStreamId(arg, &start, 0, true);
      r.served = true;
      if (!IncrStreamId(&start)) return;
      for (auto it = consumer->pel.lower_bound(start); it != consumer->pel.end(); ++it) {
        if (limit && r.entries.size() >= limit) break;
        Entry e{*it, false, {}};
        std::vector<std::string> fv;
        if (!s->Lookup(*it, &e.fv)) {
          e.deleted = true;
        } else {
          PendingEntry& pe = g->pel.at(*it);
          pe.delivery_time = h.now_ms;
          pe.delivery_count++;
          PropagateXClaim(h.effects, key, group_name, *g, *it, pe);
          h.effects.MarkDirty();
        }
        r.entries.push_back(std::move(e));
      }
      return;
    }
    StreamId start = g->last_id;
    r.served = true;
    if (!IncrStreamId(&start)) return;
    bool propagate_last_id = false;
    s->Range(start, kMaxStreamId, false, [&](StreamId id, StreamFields fv) {
      if (id > g->last_id) {
        if (g->entries_read != StreamObject::kInvalidEntriesRead && !s->RangeHasTombstones(id, kMaxStreamId)) {
          g->entries_read++;
        } else if (s->entries_added()) {
          g->entries_read = s->EstimateDistanceFromFirstEverEntry(id);
        }
        g->last_id = id;
        propagate_last_id = true;
      }
      r.entries.push_back({id, false, {fv.begin(), fv.end()}});
      if (!spec_.noack) {
        auto [it, inserted] = g->pel.try_emplace(id, PendingEntry{h.now_ms, 1, consumer});
        if (!inserted) {
          it->second.consumer->pel.erase(id);
          it->second = PendingEntry{h.now_ms, 1, consumer};
        }
        consumer->pel.insert(id);
        consumer->active_time = h.now_ms;
        PropagateXClaim(h.effects, key, group_name, *g, id, it->second);
      }
      h.effects.MarkDirty();
      return !(limit && r.entries.size() == limit);
    });
    if (propagate_last_id) PropagateSetId(h.effects, key, group_name, *g);
  }

  ReadSpec spec_;
  std::vector<Result> results_;
};

template <typename Op>
std::unique_ptr<MultiShardOp> Make(ArgList args) {
  return std::make_unique<Op>(args);
}

std::vector<size_t> KeyAtTwo(ArgList args) {
  if (args.size() > 2) return {2};
  return {};
}

}  // namespace

void RegisterStreamFamily(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite;
  constexpr uint32_t R = kCmdReadOnly;
  constexpr uint32_t F = kCmdFast;
  constexpr uint32_t M = kCmdDenyOom;
  CommandFamily family(t, kAclStream);
  family << CommandRow("xadd", -5, W | M | F, 1, 1, 1).Shard(XAddCommand)
         << CommandRow("xrange", -4, R, 1, 1, 1).Shard(XRangeCommand)
         << CommandRow("xrevrange", -4, R, 1, 1, 1).Shard(XRevRangeCommand)
         << CommandRow("xlen", 2, R | F, 1, 1, 1).Shard(XLenCommand)
         << CommandRow("xdel", -3, W | F, 1, 1, 1).Shard(XDelCommand)
         << CommandRow("xtrim", -4, W, 1, 1, 1).Shard(XTrimCommand)
         << CommandRow("xsetid", -3, W | M | F, 1, 1, 1).Shard(XSetIdCommand)
         << CommandRow("xack", -4, W | F, 1, 1, 1).Shard(XAckCommand)
         << CommandRow("xpending", -3, R, 1, 1, 1).Shard(XPendingCommand)
         << CommandRow("xclaim", -6, W | F, 1, 1, 1).Shard(XClaimCommand)
         << CommandRow("xautoclaim", -6, W | F, 1, 1, 1).Shard(XAutoClaimCommand)
         // Containers: Redis 7.0 lists them with no flags and keys per subcommand; the
         // key (when there is one) is args[2].
         << CommandRow("xgroup", -2, W | M, 2, 2, 1)
                .Shard(XGroupCommand)
                .Keys(KeyAtTwo)
                .Container()
                .Subcommands({Sub("create", -5, W | M, 2, 2, 1), Sub("setid", -5, W, 2, 2, 1),
                              Sub("destroy", 4, W, 2, 2, 1), Sub("createconsumer", 5, W | M, 2, 2, 1),
                              Sub("delconsumer", 5, W, 2, 2, 1), Sub("help", 2, kCmdLoading | kCmdStale)})
         << CommandRow("xinfo", -2, R, 2, 2, 1)
                .Shard(XInfoCommand)
                .Keys(KeyAtTwo)
                .Container()
                .Subcommands({Sub("stream", -3, R, 2, 2, 1), Sub("groups", 3, R, 2, 2, 1), Sub("consumers", 4, R, 2, 2, 1),
                              Sub("help", 2, kCmdLoading | kCmdStale)})
         << CommandRow("xread", -4, R | kCmdBlocking).MultiShard(Make<XReadOp>).Keys(ReadKeys).Validate(ReadValidator)
         << CommandRow("xreadgroup", -7, W | kCmdBlocking)
                .MultiShard(Make<XReadOp>)
                .Keys(ReadKeys)
                .Validate(ReadValidator);
}

}  // namespace darter::store
