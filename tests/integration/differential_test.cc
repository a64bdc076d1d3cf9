// Differential test: every script in diff/*.txt runs, line by line, on a fresh
// redis-server (the reference) and on a fresh darter-server; the two replies
// of each line are rendered canonically (support/reply.h) and must be equal.
// Darter must match Redis; a script is never bent to match Darter.
//
// With DARTER_DIFF_BOTH_REDIS=1 both sides are redis-server: that run proves
// the scripts themselves are deterministic.
//
// Script syntax (see docs/testing.md for the full description):
//   # comment
//   SET k v                        a command, split like redis-cli does
//   !sort <command>                sort the aggregate reply's elements first
//   !ignore <command>              run on both, compare nothing
//   !type <command>                compare only the reply type
//   !shape <command>               compare types recursively, not values
//   !fields f1,f2 <command>        compare only these fields of a map reply
//                                  (or of a RESP2 flat key/value array)
//   !keys <command>                compare only the field names of such a reply
//   !resp3 / !resp2                HELLO 3 / HELLO 2 on both connections
//   !sleep <ms>                    sleep (only where no condition can be polled)
//   !wait-absent <key> <ms>        poll EXISTS key on both until 0, bounded
//   !scan-all <args>               SCAN to completion on each side, compare the
//                                  sorted set of keys returned
//   !reconnect                     fresh connections on both sides
//   !read                          read one more reply on both sides without
//                                  sending (a second SUBSCRIBE confirmation, a
//                                  pub/sub message)
//   !other <command>               run the command on a second connection of
//                                  each side (e.g. PUBLISH to the first)
//   !args <flags>                  extra flags for BOTH servers of this script
//                                  (e.g. --requirepass pw); read before start
// Errors always compare in full: a directive relaxes only non-error replies.
//
// Environment:
//   DARTER_DIFF_BOTH_REDIS=1   second side is redis-server too
//   DARTER_DIFF_SCRIPTS=a,b    run only scripts whose file name contains a or b
//   DARTER_DIFF_DIR=path       scripts folder (default: the source tree's diff/)
//   DARTER_DIFF_REPORT=path    also write every mismatch to this file
//   DARTER_DIFF_TRANSCRIPT=path write every line and the reference's reply
//   DARTER_DIFF_SIDE_ARGS="…"  extra flags for the second server (split on blanks)
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"
#include "resp/split_args.h"

namespace darter::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using resp::SplitArgs;

constexpr int kMaxMismatchesPerScript = 40;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

bool BothRedis() { return Env("DARTER_DIFF_BOTH_REDIS") == "1"; }

std::vector<std::string> SplitOn(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string current;
  std::istringstream in(text);
  while (std::getline(in, current, sep)) {
    if (!current.empty()) out.push_back(current);
  }
  return out;
}

std::vector<fs::path> ScriptFiles() {
  std::string dir = Env("DARTER_DIFF_DIR");
#ifdef DARTER_DIFF_DIR
  if (dir.empty()) dir = DARTER_DIFF_DIR;
#endif
  std::vector<fs::path> files;
  if (dir.empty() || !fs::is_directory(dir)) return files;
  const auto filters = SplitOn(Env("DARTER_DIFF_SCRIPTS"), ',');
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".txt") continue;
    const std::string name = entry.path().filename().string();
    bool wanted = filters.empty();
    for (const auto& f : filters) wanted = wanted || name.find(f) != std::string::npos;
    if (wanted) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A server under comparison and its connection.
struct Side {
  std::string name;
  StartedServer server;
  std::unique_ptr<Client> client;
  std::unique_ptr<Client> other;  // `!other`: connected on first use

  void Connect() {
    client = std::make_unique<Client>(server.port(), 10s);
    other.reset();
  }
  Client& Other() {
    if (!other) other = std::make_unique<Client>(server.port(), 10s);
    return *other;
  }
  Reply Cmd(const std::vector<std::string>& argv) { return client->Cmd(argv); }
  // Why a side stopped answering: the process state and its log tail.
  std::string Diagnose() {
    if (!server.process) return name + ": not started";
    std::string out = server.process->Describe();
    if (!server.process->Running()) out += " has EXITED";
    return out + "; log tail:\n" + server.process->LogTail(2048);
  }
};

Side StartReference(const std::vector<std::string>& script_args) {
  return {"redis", StartRedis(0, script_args), nullptr, nullptr};
}

Side StartCandidate(const std::vector<std::string>& script_args) {
  std::vector<std::string> extra = SplitOn(Env("DARTER_DIFF_SIDE_ARGS"), ' ');
  extra.insert(extra.end(), script_args.begin(), script_args.end());
  if (BothRedis()) return {"redis#2", StartRedis(0, extra), nullptr, nullptr};
  return {"darter", StartDarter(0, extra), nullptr, nullptr};
}

// Canonical text of `reply` with its top-level elements sorted (pairs kept
// together for maps), for replies whose order is unspecified.
std::string SortedFormat(const Reply& reply) {
  if (!reply.IsAggregate()) return Format(reply);
  std::vector<std::string> items;
  const size_t step = reply.type == Reply::Type::kMap ? 2 : 1;
  for (size_t i = 0; i + step - 1 < reply.elements.size(); i += step) {
    std::string item = Format(reply.elements[i]);
    if (step == 2) item += ": " + Format(reply.elements[i + 1]);
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end());
  std::string out = std::string(TypeName(reply.type)) + " sorted [";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

// The named fields of a map reply or of a RESP2 flat [k1, v1, k2, v2] array.
std::string FieldsFormat(const Reply& reply, const std::vector<std::string>& fields) {
  if (reply.type != Reply::Type::kMap && reply.type != Reply::Type::kArray) return Format(reply);
  std::string out = "{";
  for (size_t f = 0; f < fields.size(); ++f) {
    std::string value = "<missing>";
    for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
      const Reply& key = reply.elements[i];
      if ((key.type == Reply::Type::kString || key.type == Reply::Type::kStatus) &&
          key.str == fields[f]) {
        value = Format(reply.elements[i + 1]);
        break;
      }
    }
    out += (f ? ", " : "") + fields[f] + ": " + value;
  }
  return out + "}";
}

// The field names of a map reply or of a RESP2 flat [k1, v1, k2, v2] array.
std::string KeysFormat(const Reply& reply) {
  if (reply.type != Reply::Type::kMap && reply.type != Reply::Type::kArray) return Format(reply);
  std::string out = "keys [";
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    out += (i ? ", " : "") + Format(reply.elements[i]);
  }
  return out + "]";
}

// The flags of every `!args` line of a script (servers start before it runs).
bool ScriptServerArgs(const fs::path& path, std::vector<std::string>* args, std::string* error) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("!args", 0) != 0) continue;
    std::vector<std::string> words;
    if (!SplitArgs(line.substr(5), &words, error)) return false;
    args->insert(args->end(), words.begin(), words.end());
  }
  return true;
}

// SCAN 0 <args> ... until the cursor returns to 0; the sorted distinct keys,
// or the first error / malformed reply.
std::string ScanAll(Client& client, const std::vector<std::string>& args) {
  std::set<std::string> keys;
  std::string cursor = "0";
  for (int round = 0; round < 100000; ++round) {
    std::vector<std::string> argv = {"SCAN", cursor};
    argv.insert(argv.end(), args.begin(), args.end());
    Reply reply = client.Cmd(argv);
    if (reply.type != Reply::Type::kArray || reply.elements.size() != 2 ||
        reply.elements[0].type != Reply::Type::kString ||
        reply.elements[1].type != Reply::Type::kArray) {
      return Format(reply);
    }
    for (const auto& key : reply.elements[1].elements) keys.insert(Format(key));
    cursor = reply.elements[0].str;
    if (cursor == "0") {
      std::string out = "scanned {";
      bool first = true;
      for (const auto& key : keys) {
        out += (first ? "" : ", ") + key;
        first = false;
      }
      return out + "}";
    }
  }
  return "<scan did not finish in 100000 calls>";
}

struct Mismatch {
  std::string where;  // script:line
  std::string line;
  std::string reference;
  std::string candidate;
};

class ScriptRunner {
 public:
  ScriptRunner(fs::path path, Side* ref, Side* cand, std::ostream* transcript)
      : path_(std::move(path)), ref_(ref), cand_(cand), transcript_(transcript) {}

  // Runs the whole script; returns the mismatches found.
  std::vector<Mismatch> Run() {
    std::ifstream in(path_);
    if (!in) {
      Fail(0, "", "cannot open script", "");
      return mismatches_;
    }
    ref_->Connect();
    cand_->Connect();
    if (!ref_->client->ok() || !cand_->client->ok()) {
      Fail(0, "<connect>", ref_->client->error(), cand_->client->error());
      return mismatches_;
    }
    Compare(0, "FLUSHALL", ref_->Cmd({"FLUSHALL"}), cand_->Cmd({"FLUSHALL"}), Mode::kExact);

    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      line = line.substr(start);
      ++commands_;
      RunLine(number, line);
      if (broken_) break;
      if (mismatches_.size() >= kMaxMismatchesPerScript) {
        Fail(number, line, "(more mismatches suppressed)", "");
        break;
      }
    }
    return mismatches_;
  }

  int commands() const { return commands_; }

 private:
  enum class Mode { kExact, kSort, kType, kShape, kFields, kKeys, kIgnore };

  std::string where(int number) const {
    return path_.filename().string() + ":" + std::to_string(number);
  }

  void Fail(int number, const std::string& line, std::string ref, std::string cand) {
    mismatches_.push_back({where(number), line, std::move(ref), std::move(cand)});
  }

  void Compare(int number, const std::string& line, const Reply& r, const Reply& c, Mode mode,
               const std::vector<std::string>& fields = {}) {
    if (r.IsIoError() || c.IsIoError()) {
      // A side stopped answering (crash, hang): report why and stop the script.
      std::string rs = Format(r), cs = Format(c);
      if (r.IsIoError()) rs += "\n    " + ref_->Diagnose();
      if (c.IsIoError()) cs += "\n    " + cand_->Diagnose();
      Fail(number, line, rs, cs);
      broken_ = true;
      return;
    }
    if (transcript_ != nullptr) *transcript_ << where(number) << "  " << line << "\n    -> " << Format(r) << "\n";
    if (mode == Mode::kIgnore) return;
    std::string rs, cs;
    if (r.IsError() || c.IsError() || mode == Mode::kExact) {
      rs = Format(r);
      cs = Format(c);
    } else if (mode == Mode::kSort) {
      rs = SortedFormat(r);
      cs = SortedFormat(c);
    } else if (mode == Mode::kType) {
      rs = std::string("type ") + TypeName(r.type);
      cs = std::string("type ") + TypeName(c.type);
    } else if (mode == Mode::kShape) {
      rs = "shape " + Shape(r);
      cs = "shape " + Shape(c);
    } else if (mode == Mode::kKeys) {
      rs = KeysFormat(r);
      cs = KeysFormat(c);
    } else {
      rs = FieldsFormat(r, fields);
      cs = FieldsFormat(c, fields);
    }
    if (rs != cs) Fail(number, line, rs, cs);
  }

  bool Split(int number, const std::string& text, std::vector<std::string>* argv) {
    std::string error;
    if (!SplitArgs(text, argv, &error) || argv->empty()) {
      Fail(number, text, "script error: " + (error.empty() ? "empty command" : error), "");
      return false;
    }
    return true;
  }

  void RunCommand(int number, const std::string& line, const std::string& text, Mode mode,
                  const std::vector<std::string>& fields = {}) {
    std::vector<std::string> argv;
    if (!Split(number, text, &argv)) return;
    Reply r = ref_->Cmd(argv);
    Reply c = cand_->Cmd(argv);
    Compare(number, line, r, c, mode, fields);
  }

  // Splits "!word rest" into word and rest.
  static std::pair<std::string, std::string> Directive(const std::string& line) {
    size_t space = line.find_first_of(" \t");
    if (space == std::string::npos) return {line, ""};
    size_t rest = line.find_first_not_of(" \t", space);
    return {line.substr(0, space), rest == std::string::npos ? "" : line.substr(rest)};
  }

  void RunLine(int number, const std::string& line) {
    if (line[0] != '!') {
      RunCommand(number, line, line, Mode::kExact);
      return;
    }
    auto [word, rest] = Directive(line);
    if (word == "!sort") return RunCommand(number, line, rest, Mode::kSort);
    if (word == "!ignore") return RunCommand(number, line, rest, Mode::kIgnore);
    if (word == "!type") return RunCommand(number, line, rest, Mode::kType);
    if (word == "!shape") return RunCommand(number, line, rest, Mode::kShape);
    if (word == "!keys") return RunCommand(number, line, rest, Mode::kKeys);
    if (word == "!args") return;  // applied when the servers were started
    if (word == "!fields") {
      auto [list, command] = Directive(rest);
      return RunCommand(number, line, command, Mode::kFields, SplitOn(list, ','));
    }
    if (word == "!resp3" || word == "!resp2") {
      const std::string proto = word == "!resp3" ? "3" : "2";
      Reply r = ref_->Cmd({"HELLO", proto});
      Reply c = cand_->Cmd({"HELLO", proto});
      // The HELLO reply carries server-specific fields; only success matters.
      Compare(number, line, r, c, Mode::kType);
      return;
    }
    if (word == "!read") {
      Reply r = ref_->client->ReadReply();
      Reply c = cand_->client->ReadReply();
      Compare(number, line, r, c, Mode::kExact);
      return;
    }
    if (word == "!other") {
      std::vector<std::string> argv;
      if (!Split(number, rest, &argv)) return;
      Reply r = ref_->Other().Cmd(argv);
      Reply c = cand_->Other().Cmd(argv);
      Compare(number, line, r, c, Mode::kExact);
      return;
    }
    if (word == "!reconnect") {
      ref_->Connect();
      cand_->Connect();
      return;
    }
    if (word == "!sleep") {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(rest.c_str())));
      return;
    }
    if (word == "!wait-absent") {
      std::vector<std::string> args;
      if (!Split(number, rest, &args) || args.size() != 2) {
        Fail(number, line, "script error: usage !wait-absent <key> <ms>", "");
        return;
      }
      const auto limit = std::chrono::milliseconds(std::min(std::atoi(args[1].c_str()), 10000));
      std::string r = WaitAbsent(*ref_->client, args[0], limit);
      std::string c = WaitAbsent(*cand_->client, args[0], limit);
      if (r != c) Fail(number, line, r, c);
      return;
    }
    if (word == "!scan-all") {
      std::vector<std::string> args;
      if (!rest.empty() && !Split(number, rest, &args)) return;
      std::string r = ScanAll(*ref_->client, args);
      std::string c = ScanAll(*cand_->client, args);
      if (r != c) Fail(number, line, r, c);
      return;
    }
    Fail(number, line, "script error: unknown directive " + word, "");
  }

  static std::string WaitAbsent(Client& client, const std::string& key,
                                std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    Reply last;
    do {
      last = client.Cmd({"EXISTS", key});
      if (last.type == Reply::Type::kInteger && last.integer == 0) return "absent";
      if (last.type != Reply::Type::kInteger) return Format(last);
      std::this_thread::sleep_for(5ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return "still present after " + std::to_string(limit.count()) + " ms";
  }

  fs::path path_;
  Side* ref_;
  Side* cand_;
  std::ostream* transcript_;  // may be null
  std::vector<Mismatch> mismatches_;
  int commands_ = 0;
  bool broken_ = false;
};

TEST_CASE("split args like redis-cli") {
  std::vector<std::string> args;
  std::string error;
  REQUIRE(SplitArgs(R"(SET "a b" 'c d' e\x41 "\x41\n\"" '\'' "")", &args, &error));
  CHECK(args == std::vector<std::string>{"SET", "a b", "c d", "e\\x41", "A\n\"", "'", ""});
  CHECK_FALSE(SplitArgs(R"(SET "unterminated)", &args, &error));
  CHECK_FALSE(SplitArgs(R"(SET "a"b)", &args, &error));
  REQUIRE(SplitArgs("  \t ", &args, &error));
  CHECK(args.empty());
}

TEST_CASE("scripts in diff/ reply the same on redis-server and the candidate") {
  const auto scripts = ScriptFiles();
  REQUIRE_MESSAGE(!scripts.empty(), "no diff/*.txt scripts found (DARTER_DIFF_DIR?)");
  if (!BothRedis()) {
    REQUIRE_MESSAGE(!DarterServerBinary().empty(),
                    "darter-server not built; set DARTER_DIFF_BOTH_REDIS=1 to check the scripts");
  }

  std::ofstream report;
  if (!Env("DARTER_DIFF_REPORT").empty()) report.open(Env("DARTER_DIFF_REPORT"));
  std::ofstream transcript;
  if (!Env("DARTER_DIFF_TRANSCRIPT").empty()) transcript.open(Env("DARTER_DIFF_TRANSCRIPT"));

  int total_commands = 0;
  int total_mismatches = 0;
  for (const auto& script : scripts) {
    // Fresh servers per script: one script's crash or leftover state (CONFIG
    // SET, client names, DBs) never leaks into the next.
    std::vector<std::string> script_args;
    std::string args_error;
    REQUIRE_MESSAGE(ScriptServerArgs(script, &script_args, &args_error),
                    script.filename().string() << ": bad !args line: " << args_error);
    Side ref = StartReference(script_args);
    Side cand = StartCandidate(script_args);
    REQUIRE_MESSAGE(ref.server.status.ok, "redis-server: " << ref.server.status.message);
    REQUIRE_MESSAGE(cand.server.status.ok, cand.name << ": " << cand.server.status.message);

    ScriptRunner runner(script, &ref, &cand, transcript.is_open() ? &transcript : nullptr);
    const auto mismatches = runner.Run();
    total_commands += runner.commands();
    total_mismatches += static_cast<int>(mismatches.size());
    MESSAGE(script.filename().string() << ": " << runner.commands() << " lines, "
                                       << mismatches.size() << " mismatches");
    for (const auto& m : mismatches) {
      std::ostringstream text;
      text << m.where << ": " << m.line << "\n  " << ref.name << ": " << m.reference << "\n  "
           << cand.name << ": " << m.candidate;
      ADD_FAIL_CHECK_AT(__FILE__, __LINE__, text.str());
      if (report) report << text.str() << "\n";
    }
  }
  MESSAGE("differential: " << scripts.size() << " scripts, " << total_commands << " lines, "
                           << total_mismatches << " mismatches");
}

}  // namespace
}  // namespace darter::test
