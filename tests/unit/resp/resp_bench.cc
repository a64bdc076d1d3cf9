// Micro-benchmark for lib/resp hot paths (not a test; build target resp_bench).
// Prints ns per operation for request parsing and reply encoding.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_builder.h"
#include "resp/request_parser.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename Fn>
void Bench(const char* name, size_t ops, Fn fn) {
  fn();  // warm up
  const auto start = Clock::now();
  const size_t done = fn();
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  std::printf("%-40s %8.1f ns/op  (%zu ops)\n", name, ns / static_cast<double>(done ? done : ops), done);
}

}  // namespace

int main() {
  using namespace darter::resp;
  std::string pipeline;
  const size_t kCommands = 200000;
  for (size_t i = 0; i < kCommands; ++i) {
    pipeline += "*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$16\r\nvalue-0000000001\r\n";
  }
  Bench("parse multibulk SET (pipelined)", kCommands, [&] {
    RequestParser p;
    std::vector<std::string_view> args;
    std::string_view in = pipeline;
    size_t n = 0;
    while (!in.empty()) {
      const ParseResult r = p.Parse(in, &args);
      if (r.status != ParseStatus::kCommand) break;
      in.remove_prefix(r.consumed);
      ++n;
    }
    return n;
  });
  std::string inl;
  for (size_t i = 0; i < kCommands; ++i) inl += "SET key:000001 value-0000000001\r\n";
  Bench("parse inline SET (pipelined)", kCommands, [&] {
    RequestParser p;
    std::vector<std::string_view> args;
    std::string_view in = inl;
    size_t n = 0;
    while (!in.empty()) {
      const ParseResult r = p.Parse(in, &args);
      if (r.status != ParseStatus::kCommand) break;
      in.remove_prefix(r.consumed);
      ++n;
    }
    return n;
  });
  const size_t kReplies = 2000000;
  std::string out;
  out.reserve(64 << 20);
  Bench("Integer", kReplies, [&] {
    out.clear();
    ReplyBuilder b(&out);
    for (size_t i = 0; i < kReplies; ++i) b.Integer(static_cast<int64_t>(i * 7919));
    return kReplies;
  });
  Bench("Bulk (16 bytes)", kReplies, [&] {
    out.clear();
    ReplyBuilder b(&out);
    for (size_t i = 0; i < kReplies; ++i) b.Bulk("value-0000000001");
    return kReplies;
  });
  Bench("Double RESP2 (1.1 + i)", kReplies, [&] {
    out.clear();
    ReplyBuilder b(&out);
    for (size_t i = 0; i < kReplies; ++i) b.Double(1.1 + static_cast<double>(i));
    return kReplies;
  });
  Bench("Double RESP3 (integral)", kReplies, [&] {
    out.clear();
    ReplyBuilder b(&out);
    b.SetProtocol(3);
    for (size_t i = 0; i < kReplies; ++i) b.Double(static_cast<double>(i));
    return kReplies;
  });
  Bench("Ok", kReplies, [&] {
    out.clear();
    ReplyBuilder b(&out);
    for (size_t i = 0; i < kReplies; ++i) b.Ok();
    return kReplies;
  });
  return 0;
}
