// Keyspace notifications (notify-keyspace-events), differential: the same command
// sequence runs on redis-server and on darter-server (--threads 2, so keys live on both
// shards), each with a subscriber on PSUBSCRIBE __key*__:*; the (channel, message)
// sequences they receive must be identical. After every command the driver publishes a
// marker on __keymark__:<n>, so a difference is reported at the command that caused it.
// Covered: every data family's writes, deletes of emptied collections, expire / persist /
// rename / move / copy / restore, keymiss on reads, new on creation, expired found
// lazily and actively, a blocked BLPOP/BLMOVE served by a push, MULTI/EXEC and EVAL,
// and several class sets (KEA, Ex, Kl, En, Em, A with K and E and m and n). The same
// scenario, sent to a redis-server primary, is compared on a redis-server replica and a
// darter-server replica of it.
#include <doctest/doctest.h>

#include <future>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Cmd = std::vector<std::string>;

// One step of a scenario: a command, or a pause (to let keys expire), or a blocked
// client served by the next command.
struct Step {
  enum Kind { kCommand, kSleepMs, kBlock, kQuiet } kind = kCommand;
  Cmd cmd;
  int ms = 0;
};
Step C(Cmd cmd) { return Step{Step::kCommand, std::move(cmd), 0}; }
Step Sleep(int ms) { return Step{Step::kSleepMs, {}, ms}; }
// A command with no marker after it: its events may come later (timing-dependent).
Step Quiet(Cmd cmd) { return Step{Step::kQuiet, std::move(cmd), 0}; }
// `cmd` is sent by a second client and left blocked; the next step serves it.
Step Block(Cmd cmd) { return Step{Step::kBlock, std::move(cmd), 0}; }

// DUMP of the string "v" (RDB version 10, as redis-server 7.0 writes it).
const std::string kDump("\x00\x01v\x0a\x00\x91\x08\xce\xb2\x19\x38\x8a\xce", 13);

std::vector<Step> Scenario() {
  return {
      // Strings.
      C({"GET", "s1"}), C({"SET", "s1", "v"}), C({"SET", "s1", "w"}), C({"SET", "s1", "x", "NX"}),
      C({"SET", "s2", "x", "XX"}), C({"SET", "s2", "v", "EX", "100"}), C({"SET", "s3", "v", "GET"}),
      C({"SET", "s3", "v2", "PX", "100000", "GET"}), C({"SETNX", "s4", "1"}), C({"SETNX", "s4", "2"}),
      C({"SETEX", "s5", "100", "v"}), C({"PSETEX", "s6", "100000", "v"}), C({"GETSET", "s7", "a"}),
      C({"GETSET", "s7", "b"}), C({"APPEND", "s8", "ab"}), C({"APPEND", "s8", "cd"}), C({"INCR", "n1"}),
      C({"INCRBY", "n1", "5"}), C({"DECR", "n1"}), C({"DECRBY", "n1", "2"}), C({"INCRBYFLOAT", "n2", "1.5"}),
      C({"INCR", "s1"}), C({"SETRANGE", "s9", "3", "xy"}), C({"SETRANGE", "s9", "0", ""}),
      C({"SETRANGE", "s10", "0", ""}), C({"SETRANGE", "s9", "0", "Z"}), C({"GETRANGE", "nokey", "0", "1"}),
      C({"STRLEN", "nokey"}), C({"MGET", "s1", "nokey", "s2"}), C({"MSET", "{m}a", "1", "{m}b", "2"}),
      C({"MSETNX", "{m}c", "1", "{m}d", "2"}), C({"MSETNX", "{m}a", "1", "{m}e", "2"}),
      C({"GETDEL", "s4"}), C({"GETDEL", "s4"}), C({"GETEX", "s1", "EX", "100"}), C({"GETEX", "s1", "PERSIST"}),
      C({"GETEX", "s1", "PERSIST"}), C({"GETEX", "s1"}), C({"GETEX", "s2", "PXAT", "1"}), C({"GETEX", "nokey"}),
      C({"SET", "s11", "v", "KEEPTTL"}), C({"SET", "s12", "v", "EXAT", "1"}), C({"GET", "s12"}),
      // Generic.
      C({"EXISTS", "s1", "nokey"}), C({"TYPE", "nokey"}), C({"TTL", "nokey"}), C({"PTTL", "s1"}),
      C({"OBJECT", "ENCODING", "nokey"}), C({"TOUCH", "s1", "nokey"}), C({"DEL", "s1"}), C({"DEL", "s1"}),
      C({"DEL", "{m}a", "{m}b", "{m}zz"}), C({"UNLINK", "{m}c"}), C({"EXPIRE", "s3", "100"}),
      C({"EXPIRE", "s3", "100", "NX"}), C({"PEXPIRE", "s3", "100000", "XX"}), C({"EXPIRE", "nokey", "10"}),
      C({"PERSIST", "s3"}), C({"PERSIST", "s3"}), C({"EXPIREAT", "s3", "1"}), C({"EXISTS", "s3"}),
      C({"SET", "s3", "v"}), C({"PEXPIREAT", "s3", "1"}), C({"SET", "s3", "v"}), C({"EXPIRE", "s3", "-1"}),
      C({"SET", "r1", "v"}), C({"RENAME", "r1", "r2"}), C({"RENAME", "r2", "r2"}), C({"SET", "r3", "w"}),
      C({"RENAME", "r2", "r3"}), C({"RENAMENX", "r3", "s5"}), C({"RENAMENX", "r3", "r4"}),
      C({"RENAME", "nokey", "r9"}), C({"MOVE", "r4", "1"}), C({"MOVE", "r4", "1"}), C({"SELECT", "1"}),
      C({"GET", "r4"}), C({"MOVE", "r4", "0"}), C({"SELECT", "0"}), C({"SET", "c1", "v", "EX", "1000"}),
      C({"COPY", "c1", "c2"}), C({"COPY", "c1", "c2"}), C({"COPY", "c1", "c2", "REPLACE"}),
      C({"COPY", "c1", "c3", "DB", "2"}), C({"COPY", "nokey", "c4"}), C({"DUMP", "nokey"}),
      C({"RESTORE", "d1", "0", kDump}),
      C({"RESTORE", "d1", "0", kDump, "REPLACE"}),
      C({"RESTORE", "d1", "1", kDump, "REPLACE", "ABSTTL"}),
      C({"RESTORE", "d2", "100000", kDump}),
      // Lists.
      C({"LPUSH", "l1", "a", "b"}), C({"RPUSH", "l1", "c"}), C({"LPUSHX", "l2", "a"}), C({"RPUSHX", "l1", "d"}),
      C({"LINSERT", "l1", "BEFORE", "a", "x"}), C({"LINSERT", "l1", "BEFORE", "zz", "x"}), C({"LSET", "l1", "0", "y"}),
      C({"LREM", "l1", "0", "zz"}), C({"LREM", "l1", "1", "x"}), C({"LRANGE", "nokey", "0", "-1"}),
      C({"LINDEX", "nokey", "0"}), C({"LLEN", "nokey"}), C({"LTRIM", "l1", "0", "2"}), C({"LPOP", "l1"}),
      C({"RPOP", "l1"}), C({"LPOP", "l1", "5"}), C({"LPOP", "l1"}), C({"RPUSH", "l3", "a", "b", "c"}),
      C({"LPOP", "l3", "0"}), C({"RPOP", "l3", "2"}), C({"LTRIM", "l3", "1", "0"}), C({"RPUSH", "l4", "a", "b"}),
      C({"LMOVE", "l4", "l5", "LEFT", "RIGHT"}), C({"LMOVE", "l4", "l5", "RIGHT", "LEFT"}),
      C({"RPOPLPUSH", "l5", "l5"}), C({"LMOVE", "nokey", "l5", "LEFT", "LEFT"}), C({"LMPOP", "2", "nokey", "l5", "LEFT", "COUNT", "5"}),
      C({"RPUSH", "l6", "a"}), C({"LREM", "l6", "0", "a"}), C({"BLPOP", "nokey", "l7", "0.01"}),
      C({"RPUSH", "l7", "a"}), C({"BRPOP", "l7", "1"}), C({"RPUSH", "l8", "a", "b"}),
      C({"BLMOVE", "l8", "l9", "LEFT", "LEFT", "1"}), C({"BLMPOP", "1", "1", "l8", "RIGHT"}),
      Block({"BLPOP", "bl1", "5"}), C({"RPUSH", "bl1", "a", "b"}), Block({"BLMOVE", "bl2", "bl3", "RIGHT", "LEFT", "5"}),
      C({"LPUSH", "bl2", "x"}), C({"LRANGE", "bl3", "0", "-1"}),
      // Sets.
      C({"SADD", "t1", "a", "b", "c"}), C({"SADD", "t1", "a"}), C({"SREM", "t1", "zz"}), C({"SREM", "t1", "a"}),
      C({"SMEMBERS", "nokey"}), C({"SISMEMBER", "nokey", "a"}), C({"SCARD", "nokey"}), C({"SMOVE", "t1", "t2", "b"}),
      C({"SMOVE", "t1", "t2", "zz"}), C({"SMOVE", "t1", "t1", "c"}), C({"SMOVE", "t1", "t2", "c"}),
      C({"SADD", "t3", "x"}), C({"SPOP", "t3"}), C({"SADD", "t3", "x", "y"}), C({"SPOP", "t3", "5"}),
      C({"SPOP", "t3", "0"}), C({"SADD", "{u}a", "1", "2"}), C({"SADD", "{u}b", "2", "3"}),
      C({"SINTERSTORE", "{u}c", "{u}a", "{u}b"}), C({"SUNIONSTORE", "{u}c", "{u}a", "{u}b"}),
      C({"SDIFFSTORE", "{u}d", "{u}a", "{u}b"}), C({"SINTERSTORE", "{u}d", "{u}a", "{u}zz"}),
      C({"SINTERSTORE", "{u}d", "{u}a", "{u}zz"}), C({"SDIFFSTORE", "{u}e", "{u}a", "{u}a"}),
      C({"SUNION", "{u}zz", "{u}a"}), C({"SINTERCARD", "2", "{u}a", "{u}b"}), C({"SRANDMEMBER", "nokey"}),
      C({"SUNIONSTORE", "t9", "t2", "nokey"}),
      // Hashes.
      C({"HSET", "h1", "a", "1", "b", "2"}), C({"HSET", "h1", "a", "1"}), C({"HMSET", "h1", "c", "3"}),
      C({"HSETNX", "h1", "a", "9"}), C({"HSETNX", "h1", "d", "9"}), C({"HDEL", "h1", "zz"}), C({"HDEL", "h1", "a"}),
      C({"HINCRBY", "h1", "b", "3"}), C({"HINCRBYFLOAT", "h1", "b", "0.5"}), C({"HINCRBY", "h2", "x", "1"}),
      C({"HGET", "nokey", "a"}), C({"HGETALL", "nokey"}), C({"HLEN", "nokey"}), C({"HDEL", "h2", "x"}),
      C({"HDEL", "h1", "b", "c", "d"}),
      // Sorted sets.
      C({"ZADD", "z1", "1", "a", "2", "b", "3", "c"}), C({"ZADD", "z1", "1", "a"}), C({"ZADD", "z1", "5", "a"}),
      C({"ZADD", "z1", "XX", "1", "zz"}), C({"ZADD", "z2", "XX", "1", "zz"}), C({"ZADD", "z1", "NX", "9", "a"}),
      C({"ZADD", "z1", "GT", "1", "a"}), C({"ZADD", "z1", "CH", "6", "a"}), C({"ZADD", "z1", "INCR", "1", "a"}),
      C({"ZINCRBY", "z1", "1", "b"}), C({"ZINCRBY", "z3", "1", "b"}), C({"ZREM", "z1", "zz"}), C({"ZREM", "z1", "c"}),
      C({"ZSCORE", "nokey", "a"}), C({"ZRANGE", "nokey", "0", "-1"}), C({"ZCARD", "nokey"}),
      C({"ZADD", "z4", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"}), C({"ZREMRANGEBYRANK", "z4", "0", "0"}),
      C({"ZREMRANGEBYRANK", "z4", "10", "20"}), C({"ZREMRANGEBYSCORE", "z4", "2", "2"}),
      C({"ZREMRANGEBYLEX", "z4", "[c", "[c"}), C({"ZPOPMIN", "z4"}), C({"ZPOPMAX", "z4", "0"}),
      C({"ZPOPMAX", "z4", "5"}), C({"ZADD", "z5", "1", "a", "2", "b"}), C({"ZREMRANGEBYSCORE", "z5", "-inf", "+inf"}),
      C({"ZADD", "{w}a", "1", "x", "2", "y"}), C({"ZADD", "{w}b", "1", "y"}),
      C({"ZUNIONSTORE", "{w}c", "2", "{w}a", "{w}b"}), C({"ZINTERSTORE", "{w}c", "2", "{w}a", "{w}b"}),
      C({"ZDIFFSTORE", "{w}d", "2", "{w}a", "{w}b"}), C({"ZINTERSTORE", "{w}d", "2", "{w}a", "{w}zz"}),
      C({"ZRANGESTORE", "{w}e", "{w}a", "0", "-1"}), C({"ZRANGESTORE", "{w}e", "{w}a", "5", "6"}), C({"ZRANGESTORE", "{w}f", "{w}zz", "0", "-1"}),
      C({"ZMPOP", "1", "{w}a", "MIN"}), C({"BZPOPMIN", "{w}a", "1"}), C({"BZPOPMAX", "{w}c", "1"}),
      C({"ZADD", "z6", "1", "a"}), C({"BZMPOP", "1", "1", "z6", "MAX", "COUNT", "3"}),
      Block({"BZPOPMIN", "bz1", "5"}), C({"ZADD", "bz1", "1", "a", "2", "b"}),
      // Geo and HyperLogLog.
      C({"GEOADD", "g1", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"}),
      C({"GEOADD", "g1", "13.361389", "38.115556", "Palermo"}), C({"GEOPOS", "nokey", "a"}),
      C({"GEOSEARCHSTORE", "{g}d", "{g}zz", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"}),
      C({"GEOADD", "{g}s", "13.361389", "38.115556", "Palermo"}),
      C({"GEOSEARCHSTORE", "{g}d", "{g}s", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"}),
      C({"GEORADIUS", "{g}s", "15", "37", "200", "km", "STORE", "{g}e"}),
      C({"GEOSEARCHSTORE", "{g}d", "{g}s", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "ASC"}),
      C({"PFADD", "p1", "a", "b"}), C({"PFADD", "p1", "a"}), C({"PFADD", "p2"}), C({"PFCOUNT", "p1"}),
      C({"PFADD", "{p}a", "x"}), C({"PFMERGE", "{p}b", "{p}a"}), C({"PFMERGE", "{p}c", "{p}zz"}), C({"PFCOUNT", "nokey"}),
      // Bitmaps.
      C({"SETBIT", "b1", "7", "1"}), C({"SETBIT", "b1", "7", "1"}), C({"GETBIT", "nokey", "1"}),
      C({"BITCOUNT", "nokey"}), C({"BITFIELD", "b2", "SET", "u8", "0", "5"}), C({"BITFIELD", "b2", "GET", "u8", "0"}),
      C({"BITFIELD_RO", "nokey", "GET", "u8", "0"}), C({"SET", "{b}a", "ab"}), C({"BITOP", "NOT", "{b}c", "{b}a"}),
      C({"BITOP", "AND", "{b}c", "{b}zz"}), C({"BITOP", "AND", "{b}c", "{b}zz"}), C({"BITPOS", "nokey", "1"}),
      // Streams.
      C({"XADD", "x1", "1-1", "f", "v"}), C({"XADD", "x1", "2-1", "f", "v"}), C({"XADD", "x2", "NOMKSTREAM", "*", "f", "v"}),
      C({"XADD", "x1", "MAXLEN", "1", "3-1", "f", "v"}), C({"XTRIM", "x1", "MAXLEN", "5"}),
      C({"XADD", "x1", "4-1", "f", "v"}), C({"XTRIM", "x1", "MAXLEN", "1"}), C({"XDEL", "x1", "9-9"}),
      C({"XDEL", "x1", "4-1"}), C({"XLEN", "nokey"}), C({"XRANGE", "nokey", "-", "+"}),
      C({"XGROUP", "CREATE", "x1", "g1", "0"}), C({"XGROUP", "CREATE", "x3", "g1", "$", "MKSTREAM"}),
      C({"XGROUP", "CREATECONSUMER", "x1", "g1", "c1"}), C({"XGROUP", "CREATECONSUMER", "x1", "g1", "c1"}),
      C({"XADD", "x1", "5-1", "f", "v"}), C({"XREADGROUP", "GROUP", "g1", "c2", "COUNT", "1", "STREAMS", "x1", ">"}),
      C({"XCLAIM", "x1", "g1", "c3", "0", "5-1"}), C({"XAUTOCLAIM", "x1", "g1", "c4", "0", "0"}),
      C({"XACK", "x1", "g1", "5-1"}), C({"XGROUP", "SETID", "x1", "g1", "0"}), C({"XSETID", "x1", "9-9"}),
      C({"XGROUP", "DELCONSUMER", "x1", "g1", "c1"}), C({"XGROUP", "DESTROY", "x1", "g1"}),
      C({"XGROUP", "DESTROY", "x1", "g1"}), C({"XREAD", "STREAMS", "nokey", "0"}),
      // Sort.
      C({"RPUSH", "{o}l", "3", "1", "2"}), C({"SORT", "{o}l", "STORE", "{o}d"}), C({"SORT", "{o}zz", "STORE", "{o}d"}),
      C({"SORT", "{o}zz", "STORE", "{o}d"}), C({"SORT", "nokey"}),
      // Transactions and scripts.
      C({"MULTI"}), C({"SET", "mx", "1"}), C({"INCR", "mx"}), C({"DEL", "mx"}), C({"LPUSH", "my", "a"}), C({"EXEC"}),
      C({"EVAL", "redis.call('set', KEYS[1], 'a'); redis.call('expire', KEYS[1], 100); return redis.call('get', KEYS[2])",
         "2", "ev1", "nokey"}),
      C({"EVAL", "return redis.call('del', KEYS[1])", "1", "ev1"}),
      // More reads of missing keys (keymiss) and of present ones (nothing).
      C({"LPOS", "nokey", "a"}), C({"LPOS", "bl3", "x"}), C({"HEXISTS", "nokey", "f"}), C({"HSTRLEN", "nokey", "f"}),
      C({"HMGET", "nokey", "f"}), C({"HRANDFIELD", "nokey"}), C({"HKEYS", "nokey"}), C({"HVALS", "nokey"}),
      C({"SMISMEMBER", "nokey", "a"}), C({"SRANDMEMBER", "nokey", "2"}), C({"ZRANK", "nokey", "a"}),
      C({"ZREVRANK", "nokey", "a"}), C({"ZCOUNT", "nokey", "0", "1"}), C({"ZLEXCOUNT", "nokey", "-", "+"}),
      C({"ZMSCORE", "nokey", "a"}), C({"ZRANDMEMBER", "nokey"}), C({"ZRANGEBYSCORE", "nokey", "0", "1"}),
      C({"ZREVRANGE", "nokey", "0", "1"}), C({"ZRANGEBYLEX", "nokey", "-", "+"}), C({"SCAN", "0", "COUNT", "1000"}),
      C({"SSCAN", "nokey", "0"}), C({"HSCAN", "nokey", "0"}), C({"ZSCAN", "nokey", "0"}),
      C({"GEODIST", "nokey", "a", "b"}), C({"GEOHASH", "nokey", "a"}),
      C({"GEOSEARCH", "nokey", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"}),
      C({"GEORADIUS", "nokey", "15", "37", "200", "km"}), C({"GEORADIUSBYMEMBER", "nokey", "a", "200", "km"}),
      C({"XPENDING", "nokey", "g"}), C({"XREVRANGE", "nokey", "+", "-"}), C({"XINFO", "STREAM", "nokey"}),
      C({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "nokey", ">"}), C({"MEMORY", "USAGE", "nokey"}),
      C({"SORT_RO", "nokey"}), C({"SINTER", "{r}a", "{r}b"}), C({"SUNION", "{r}a", "{r}b"}), C({"SDIFF", "{r}a", "{r}b"}),
      C({"SINTERCARD", "2", "{r}a", "{r}b"}), C({"ZUNION", "2", "{r}a", "{r}b"}), C({"ZINTER", "2", "{r}a", "{r}b"}),
      C({"ZDIFF", "2", "{r}a", "{r}b"}), C({"ZINTERCARD", "2", "{r}a", "{r}b"}), C({"PFCOUNT", "{r}a", "{r}b"}),
      C({"BITOP", "OR", "{r}c", "{r}a"}), C({"OBJECT", "FREQ", "nokey"}),
      C({"OBJECT", "IDLETIME", "nokey"}), C({"RANDOMKEY"}), C({"EXISTS", "nokey", "nokey"}), C({"SUBSTR", "nokey", "0", "1"}),
      C({"GETRANGE", "s9", "0", "1"}),
      // More writes.
      C({"SETRANGE", "s9", "10", "pad"}), C({"INCRBYFLOAT", "n2", "2"}), C({"HSETNX", "h9", "f", "v"}),
      C({"LPUSHX", "nokey", "a"}), C({"ZADD", "z7", "LT", "5", "a"}), C({"ZADD", "z7", "LT", "9", "a"}),
      C({"ZADD", "z7", "LT", "CH", "1", "a"}), C({"ZADD", "z7", "NX", "INCR", "1", "a"}), C({"ZADD", "z7", "XX", "INCR", "1", "a"}),
      C({"ZINCRBY", "z7", "1", "b"}), C({"XADD", "x4", "MINID", "5", "1-1", "f", "v"}), C({"XADD", "x4", "MINID", "5", "6-1", "f", "v"}),
      C({"XTRIM", "x4", "MINID", "7"}), C({"RPUSH", "{o}n", "b", "a"}), C({"SORT", "{o}n", "ALPHA", "STORE", "{o}n"}),
      C({"SORT", "{o}n", "BY", "nosort", "STORE", "{o}m"}), C({"SET", "ren", "v", "EX", "100"}),
      C({"RENAME", "ren", "{x}ren"}), C({"TTL", "{x}ren"}), C({"EXPIRE", "{x}ren", "0"}), C({"SET", "k1", "v"}),
      C({"EXPIRE", "k1", "100", "GT"}), C({"EXPIRE", "k1", "100", "LT"}), C({"EXPIRE", "k1", "50", "LT"}),
      C({"EXPIRE", "k1", "100", "GT"}), C({"SET", "k1", "w", "KEEPTTL"}), C({"SET", "k1", "w", "PXAT", "1"}), C({"GET", "k1"}),
      C({"SADD", "sa", "1"}), C({"SPOP", "sa", "1"}), C({"HSET", "ha", "f", "v"}), C({"HDEL", "ha", "f", "g"}),
      C({"LPUSH", "lx", "a"}), C({"LSET", "lx", "5", "b"}), C({"LINSERT", "lx", "AFTER", "a", "b"}),
      C({"LTRIM", "lx", "0", "-1"}), C({"LREM", "lx", "-1", "b"}), C({"RPOPLPUSH", "lx", "ly"}),
      C({"BITFIELD", "b3", "INCRBY", "u2", "0", "5", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "5"}),
      C({"BITFIELD", "b3", "GET", "u8", "0"}), C({"SETBIT", "b3", "100", "0"}), C({"SETBIT", "b4", "0", "0"}),
      C({"PFADD", "p9"}), C({"PFADD", "p9"}), C({"APPEND", "s9", ""}), C({"COPY", "c1", "c1", "DB", "3"}),
      C({"MOVE", "c1", "3"}), C({"SWAPDB", "0", "3"}), C({"SWAPDB", "0", "3"}), C({"UNLINK", "nokey"}),
      // Expiry found lazily (the read comes right after the deadline) and actively.
      C({"SET", "e1", "v", "PX", "30"}), Sleep(60), C({"GET", "e1"}),
      C({"SET", "e2", "v", "PX", "30"}), Sleep(1200), C({"HSET", "e3", "f", "v"}), C({"PEXPIRE", "e3", "30"}), Sleep(1200),
      // FLUSHDB / FLUSHALL / SWAPDB fire nothing per key.
      C({"SET", "f1", "v"}), C({"SWAPDB", "0", "1"}), C({"FLUSHDB"}), C({"SWAPDB", "0", "1"}), C({"FLUSHALL"}),
  };
}

// One server's run: the subscriber's (channel message) lines, with "-- <n> <command>"
// where command n's marker arrived.
// Commands go to `port`; the subscriber listens on `sub_port` (the same server, or a
// replica of it, which gets the markers through the replication stream).
std::vector<std::string> Run(int port, const std::string& flags, const std::vector<Step>& steps,
                             int sub_port = 0) {
  std::vector<std::string> log;
  if (sub_port == 0) sub_port = port;
  Client admin(port, 5s), sub(sub_port, 5s), blocker(port, 5s);
  REQUIRE(admin.ok());
  REQUIRE(sub.ok());
  REQUIRE(admin.Cmd({"FLUSHALL"}).type == Reply::Type::kStatus);
  for (Client* c : {&admin, &sub}) {
    Reply set = c->Cmd({"CONFIG", "SET", "notify-keyspace-events", flags});
    REQUIRE_MESSAGE(set.type == Reply::Type::kStatus, Format(set));
  }
  Reply ps = sub.Cmd({"PSUBSCRIBE", "__key*__:*"});
  REQUIRE(ps.type == Reply::Type::kArray);
  bool blocked = false, in_multi = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    if (st.kind == Step::kSleepMs) {
      // No marker: whether a key expires during the pause (actively) or at the next
      // read (lazily) depends on timing, so both land before the next command's marker.
      std::this_thread::sleep_for(std::chrono::milliseconds(st.ms));
      continue;
    } else if (st.kind == Step::kBlock) {
      blocker.Append(st.cmd);
      REQUIRE(blocker.Flush());
      std::this_thread::sleep_for(100ms);  // let it block
      blocked = true;
      continue;
    } else {
      admin.Cmd(st.cmd);
      if (st.kind == Step::kQuiet) continue;
      if (blocked) {
        Reply r = blocker.ReadReply();
        CHECK_MESSAGE(!r.IsIoError(), Format(r));
        blocked = false;
      }
    }
    // Inside MULTI a marker would be queued into the transaction: a block's events are
    // compared as one unit, marked after EXEC.
    std::string name = st.cmd.empty() ? "" : st.cmd[0];
    if (name == "MULTI") in_multi = true;
    if (name == "EXEC" || name == "DISCARD") in_multi = false;
    if (in_multi) continue;
    std::string label = std::to_string(i) + " " + FormatCommand(st.cmd);
    admin.Cmd({"PUBLISH", "__keymark__:" + std::to_string(i), label});
  }
  admin.Cmd({"PUBLISH", "__keymark__:end", "end"});
  while (true) {
    Reply r = sub.ReadReply();
    if (r.IsIoError() || r.type != Reply::Type::kArray || r.elements.size() != 4) {
      log.push_back("unexpected: " + Format(r));
      break;
    }
    const std::string& channel = r.elements[2].str;
    const std::string& message = r.elements[3].str;
    if (channel.rfind("__keymark__:", 0) == 0) {
      if (message == "end") break;
      log.push_back("-- " + message);
    } else {
      log.push_back(channel + " " + message);
    }
  }
  admin.Cmd({"CONFIG", "SET", "notify-keyspace-events", ""});
  sub.Cmd({"PUNSUBSCRIBE"});
  return log;
}

// The first difference, with the lines before it, or "".
std::string FirstDifference(const std::vector<std::string>& redis, const std::vector<std::string>& darter) {
  size_t n = std::max(redis.size(), darter.size());
  for (size_t i = 0; i < n; ++i) {
    std::string a = i < redis.size() ? redis[i] : "<none>", b = i < darter.size() ? darter[i] : "<none>";
    if (a == b) continue;
    std::string out = "line " + std::to_string(i) + ":\n";
    for (size_t j = i >= 6 ? i - 6 : 0; j < i; ++j) out += "    " + redis[j] + "\n";
    out += "  redis:  " + a + "\n  darter: " + b;
    if (i + 1 < redis.size()) out += "\n  redis next:  " + redis[i + 1];
    if (i + 1 < darter.size()) out += "\n  darter next: " + darter[i + 1];
    return out;
  }
  return {};
}

struct Servers {
  StartedServer redis = StartRedis();
  StartedServer darter = StartDarter(0, {"--threads", "2"});
};

TEST_CASE("Keyspace notifications match redis-server, command by command") {
  Servers s;
  REQUIRE_MESSAGE(s.redis.status.ok, s.redis.status.message);
  REQUIRE_MESSAGE(s.darter.status.ok, s.darter.status.message);
  std::vector<Step> steps = Scenario();
  for (std::string flags : {"KEA", "Ex", "Kl", "En", "Em", "AKEmn", "Kg$", "Es", "Kh", "Ez", "Kt", "Ed"}) {
    CAPTURE(flags);
    // Both servers at once (each with its own clients): the scenario's pauses overlap.
    auto redis_run = std::async(std::launch::async, [&] { return Run(s.redis.port(), flags, steps); });
    std::vector<std::string> got = Run(s.darter.port(), flags, steps);
    std::vector<std::string> want = redis_run.get();
    std::string diff = FirstDifference(want, got);
    CHECK_MESSAGE(diff.empty(), "notify-keyspace-events " << flags << ", " << diff);
    MESSAGE(flags << ": " << want.size() << " lines compared");
  }
  CheckServerHealthy(*s.darter.process, 512ull << 20);
}

// Eviction fires evicted (class e). With one volatile key and volatile-ttl the victim
// is certain. redis-server evicts it at CONFIG SET maxmemory already, darter-server
// when it next checks the limit; either way before the next marked command.
TEST_CASE("Eviction fires evicted as redis-server does") {
  Servers s;
  REQUIRE_MESSAGE(s.redis.status.ok, s.redis.status.message);
  REQUIRE_MESSAGE(s.darter.status.ok, s.darter.status.message);
  std::vector<Step> steps = {
      C({"SET", "keep", "v"}), C({"SET", "victim", "v", "EX", "100"}),
      C({"CONFIG", "SET", "maxmemory-policy", "volatile-ttl"}), Quiet({"CONFIG", "SET", "maxmemory", "1"}),
      Sleep(300), C({"SET", "x", "y"}), C({"CONFIG", "SET", "maxmemory", "0"}), C({"CONFIG", "SET", "maxmemory-policy", "noeviction"}),
      C({"EXISTS", "victim", "keep"}),
  };
  for (std::string flags : {"KEA", "Ee", "Kg"}) {
    CAPTURE(flags);
    std::vector<std::string> want = Run(s.redis.port(), flags, steps);
    std::vector<std::string> got = Run(s.darter.port(), flags, steps);
    std::string diff = FirstDifference(want, got);
    CHECK_MESSAGE(diff.empty(), "notify-keyspace-events " << flags << ", " << diff);
  }
}

// Redis fires events on a replica too, for the writes its primary streams to it (a key
// that expires on the primary: del, when the primary's DEL arrives). One redis-server
// primary feeds a redis-server replica and a darter-server replica; their subscribers
// must see the same sequence.
TEST_CASE("Keyspace notifications on a replica match a redis-server replica of the same primary") {
  StartedServer primary = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  std::string of = std::to_string(primary.port());
  StartedServer rrep = StartRedis(0, {"--replicaof", "127.0.0.1", of});
  REQUIRE_MESSAGE(rrep.status.ok, rrep.status.message);
  StartedServer drep = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + of});
  REQUIRE_MESSAGE(drep.status.ok, drep.status.message);
  for (int port : {rrep.port(), drep.port()}) {
    Client c(port);
    bool up = false;
    for (int i = 0; i < 250 && !up; ++i) {
      Reply r = c.Cmd({"INFO", "replication"});
      up = r.str.find("master_link_status:up") != std::string::npos;
      if (!up) std::this_thread::sleep_for(20ms);
    }
    REQUIRE_MESSAGE(up, "replica on port " << port << " did not connect");
  }
  std::vector<Step> steps;
  for (Step& st : Scenario())
    if (st.kind != Step::kSleepMs) steps.push_back(std::move(st));
  for (std::string flags : {"KEA", "AKEn"}) {
    CAPTURE(flags);
    std::vector<std::string> want = Run(primary.port(), flags, steps, rrep.port());
    std::vector<std::string> got = Run(primary.port(), flags, steps, drep.port());
    std::string diff = FirstDifference(want, got);
    CHECK_MESSAGE(diff.empty(), "replica, notify-keyspace-events " << flags << ", " << diff);
    MESSAGE("replica " << flags << ": " << want.size() << " lines compared");
  }
  CheckServerHealthy(*drep.process, 512ull << 20);
}

TEST_CASE("notify-keyspace-events: CONFIG SET accepts and CONFIG GET shows flags as redis-server does") {
  Servers s;
  REQUIRE_MESSAGE(s.redis.status.ok, s.redis.status.message);
  REQUIRE_MESSAGE(s.darter.status.ok, s.darter.status.message);
  Client rc(s.redis.port()), dc(s.darter.port());
  for (const char* flags : {"", "KEA", "AKEmn", "Kx", "xK", "Kd", "g$lshzxetdKE", "g$lshzxetdnKE", "n", "m", "Q",
                            "KEAq", "ExX", "KA", "$", "EE"}) {
    CAPTURE(flags);
    Reply a = rc.Cmd({"CONFIG", "SET", "notify-keyspace-events", flags});
    Reply b = dc.Cmd({"CONFIG", "SET", "notify-keyspace-events", flags});
    CHECK(Format(a) == Format(b));
    CHECK(Format(rc.Cmd({"CONFIG", "GET", "notify-keyspace-events"})) ==
          Format(dc.Cmd({"CONFIG", "GET", "notify-keyspace-events"})));
  }
}

TEST_CASE("--notify-keyspace-events at start-up, and a bad value refused") {
  StartedServer d = StartDarter(0, {"--notify-keyspace-events", "Elg"});
  REQUIRE_MESSAGE(d.status.ok, d.status.message);
  Client c(d.port());
  Reply r = c.Cmd({"CONFIG", "GET", "notify-keyspace-events"});
  REQUIRE(r.elements.size() == 2);
  CHECK(r.elements[1].str == "glE");
  StartedServer bad = StartDarter(0, {"--notify-keyspace-events", "KQ"});
  CHECK_FALSE(bad.status.ok);
}

}  // namespace
}  // namespace darter::test
