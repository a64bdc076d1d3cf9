// libFuzzer target for resp::RequestParser.
//
// Input: byte 0 picks the limits (low 2 bits), whether the connection is authenticated
// (bit 2) and seeds the split pattern (the rest);
// the remaining bytes are the client's byte stream. The stream is parsed twice, whole
// and in random pieces (each call on a fresh heap copy, so a parser that kept pointers
// into an old buffer trips ASan), and both must produce the same commands and error.
// Every command is then re-encoded as multibulk and must parse back to itself.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resp/request_parser.h"

namespace {

using darter::resp::ParserLimits;
using darter::resp::ParseResult;
using darter::resp::ParseStatus;
using darter::resp::RequestParser;

struct Transcript {
  std::vector<std::vector<std::string>> commands;
  std::string error;
  bool operator==(const Transcript&) const = default;
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// Checks the invariants of one Parse result and records its outcome. Returns false
// when parsing must stop (kNeedMore or kError).
struct Config {
  ParserLimits limits;
  bool authenticated = true;
};

bool Record(const ParseResult& r, std::string_view input, const std::vector<std::string_view>& args,
            const Config& config, Transcript* t, size_t* consumed) {
  const ParserLimits& limits = config.limits;
  switch (r.status) {
    case ParseStatus::kNeedMore:
      Check(r.consumed == 0, "kNeedMore consumes nothing");
      Check(r.need_at_least == 0 || r.need_at_least > input.size(), "need_at_least beyond input");
      return false;
    case ParseStatus::kError:
      Check(r.error.starts_with("ERR Protocol error: "), "error has Redis's prefix");
      Check(r.error.find_first_of("\r\n") == std::string_view::npos, "error is one line");
      t->error.assign(r.error);
      return false;
    case ParseStatus::kCommand:
      break;
  }
  Check(r.consumed > 0 && r.consumed <= input.size(), "0 < consumed <= size");
  // The bulk and count limits bind multibulk requests; an inline request is bounded by
  // its line length alone (as in Redis).
  const bool multibulk = input[0] == '*';
  if (multibulk) {
    Check(args.size() <= limits.max_multibulk_len, "arg count within limit");
    if (!config.authenticated) {
      Check(args.size() <= limits.unauthenticated_max_multibulk_len, "arg count within unauth limit");
      for (std::string_view a : args) {
        Check(a.size() <= limits.unauthenticated_max_bulk_len, "arg within unauth bulk limit");
      }
    }
  }
  for (std::string_view a : args) {
    if (multibulk) {
      Check(a.size() <= limits.max_bulk_len, "arg within bulk limit");
      Check(a.data() >= input.data() && a.data() + a.size() <= input.data() + r.consumed,
            "multibulk args point into the consumed input");
    } else {
      Check(a.size() <= limits.max_inline_len, "inline arg within line limit");
    }
  }
  if (!args.empty()) t->commands.emplace_back(args.begin(), args.end());
  *consumed = r.consumed;
  return true;
}

Transcript ParseWhole(std::string_view stream, const Config& config) {
  RequestParser parser(config.limits);
  parser.set_authenticated(config.authenticated);
  Transcript t;
  std::vector<std::string_view> args;
  while (!stream.empty()) {
    size_t consumed = 0;
    const ParseResult r = parser.Parse(stream, &args);
    if (!Record(r, stream, args, config, &t, &consumed)) break;
    stream.remove_prefix(consumed);
  }
  return t;
}

Transcript ParseSplit(std::string_view stream, const Config& config, uint32_t seed) {
  RequestParser parser(config.limits);
  parser.set_authenticated(config.authenticated);
  Transcript t;
  std::string buffer;
  std::vector<std::string_view> args;
  size_t fed = 0;
  while (fed < stream.size()) {
    seed = seed * 1103515245u + 12345u;
    const size_t piece = 1 + (seed >> 16) % 17;
    const std::string_view chunk = stream.substr(fed, piece);
    buffer.append(chunk);
    fed += chunk.size();
    for (;;) {
      // A fresh allocation per call: the parser must keep offsets, not pointers.
      std::unique_ptr<char[]> copy(new char[buffer.size() + 1]);
      std::memcpy(copy.get(), buffer.data(), buffer.size());
      const std::string_view input(copy.get(), buffer.size());
      const ParseResult r = parser.Parse(input, &args);
      size_t consumed = 0;
      const bool more = Record(r, input, args, config, &t, &consumed);
      // Record copied the args out; drop them before `copy` goes away.
      args.clear();
      if (!t.error.empty()) return t;
      if (!more) break;
      buffer.erase(0, consumed);
    }
  }
  return t;
}

std::string Encode(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Config config;
  switch (data[0] & 3) {
    case 0: break;  // Redis defaults
    case 1: config.limits.max_inline_len = 16; break;
    case 2: config.limits.max_bulk_len = 8; break;
    case 3: config.limits.max_multibulk_len = 3; break;
  }
  config.authenticated = (data[0] & 4) == 0;
  const uint32_t seed = data[0] >> 3;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  const Transcript whole = ParseWhole(stream, config);
  const Transcript split = ParseSplit(stream, config, seed);
  Check(whole == split, "whole and split parses agree");

  // Round trip: each command re-encoded as multibulk parses back to the same args
  // (default limits: an inline command may exceed the small multibulk limits).
  RequestParser parser;
  std::vector<std::string_view> args;
  for (const std::vector<std::string>& command : whole.commands) {
    const std::string encoded = Encode(command);
    const ParseResult r = parser.Parse(encoded, &args);
    Check(r.status == ParseStatus::kCommand && r.consumed == encoded.size(), "re-encoded parses");
    Check(args.size() == command.size(), "re-encoded arg count");
    for (size_t i = 0; i < args.size(); ++i) Check(args[i] == command[i], "re-encoded arg");
  }
  return 0;
}
