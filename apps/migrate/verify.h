// Verifier: compares the source and the target key by key, logically (by type, not by
// encoding): type, TTL within a tolerance, and the value — GET (and PFCOUNT for
// HyperLogLogs), LRANGE in chunks, sets and hashes sorted (or, past a size, member by
// member with SSCAN/HSCAN against SISMEMBER/HMGET), ZRANGE WITHSCORES in chunks with
// scores compared as numbers, XRANGE in chunks plus XINFO GROUPS. Every database the
// source has is walked with SCAN on both sides (keys only on the target are found
// too), so memory stays bounded by one batch and one chunk.
//
// A key that differs while the source is still being written may just not have
// arrived yet: differences are re-checked after `wait_caught_up` returns, and only
// the ones that persist are reported.
//
// Thread-safety: requires external synchronization; uses the two connections given.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "migrate/redis_conn.h"
#include "migrate/report.h"

namespace darter::migrate {

struct VerifyOptions {
  uint64_t sample = 0;             // 0: every key; else about this many random keys
  int64_t ttl_tolerance_ms = 2000;
  size_t show = 20;                // differences listed in the report
  size_t scan_count = 500;
  size_t recheck_rounds = 3;
  size_t max_recheck_keys = 100000;
  std::function<bool()> wait_caught_up;                // may be empty
  std::function<void(uint64_t checked)> on_progress;  // may be empty
};

class Verifier {
 public:
  Verifier(RedisConn& source, RedisConn& target, VerifyOptions options);
  VerifyResult Run();

  // Compares one key in `db` (both connections must have it SELECTed). Returns the
  // difference, nullopt when equal, or "" when the key is gone from both sides.
  std::optional<std::string> CompareKey(const std::string& key);

 private:
  // Commands on either side; a refusal no re-check can change (NOPERM, renamed
  // command) sets result_.error.
  ReplyPtr SrcCmd(const std::vector<std::string>& argv);
  ReplyPtr DstCmd(const std::vector<std::string>& argv);
  std::vector<ReplyPtr> SrcPipe(const std::vector<std::vector<std::string>>& cmds);
  std::vector<ReplyPtr> DstPipe(const std::vector<std::vector<std::string>>& cmds);
  void CheckRefused(const redisReply* r, bool source, const std::vector<std::string>& argv);
  bool Select(int db);
  int DatabaseCount();
  void CheckBatch(int db, const std::vector<std::string>& keys, bool count_types);
  void ScanTargetForExtras(int db);
  void Record(int db, const std::string& key, const std::string& what);
  std::optional<std::string> CompareValue(const std::string& key, const std::string& type);
  std::optional<std::string> CompareList(const std::string& key);
  std::optional<std::string> CompareSetLike(const std::string& key, bool hash);
  std::optional<std::string> CompareZset(const std::string& key);
  std::optional<std::string> CompareStream(const std::string& key);
  std::optional<std::string> CompareString(const std::string& key);

  RedisConn& src_;
  RedisConn& dst_;
  VerifyOptions opt_;
  VerifyResult result_;
  std::vector<std::pair<int, std::string>> suspects_;
  uint64_t suspects_dropped_ = 0;
};

}  // namespace darter::migrate
