// Geo commands (Redis's geo.c): points are zset members whose score is a 52-bit
// geohash (geohash.h). GEOADD, GEODIST, GEOHASH and GEOPOS run on the key's shard;
// the searches (GEORADIUS[BYMEMBER][_RO], GEOSEARCH, GEOSEARCHSTORE) are MultiShardOps:
// hop 0 parses and searches on the source key's shard, hop 1 (STORE variants) writes
// the result zset on the destination's shard.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/geohash.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"
#include "store/zset_object.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

ZsetObject* ZsetOf(const Slot* s) { return s ? s->value.As<ZsetObject>() : nullptr; }

// Redis's extractLongLatOrReply: two floats, then the WGS84/Mercator bounds.
bool ParseLongLat(std::string_view lon, std::string_view lat, double* xy, std::string* err) {
  auto x = ParseDouble(lon);
  auto y = x ? ParseDouble(lat) : std::nullopt;
  if (!x || !y) {
    *err = errors::kNotFloat;
    return false;
  }
  xy[0] = *x;
  xy[1] = *y;
  if (xy[0] < geo::kLongMin || xy[0] > geo::kLongMax || xy[1] < geo::kLatMin || xy[1] > geo::kLatMax) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "ERR invalid longitude,latitude pair %f,%f", xy[0], xy[1]);
    *err = buf;
    return false;
  }
  return true;
}

// Meters per unit, or a negative value with *err set.
double ParseUnit(std::string_view u, std::string* err) {
  if (EqualsIgnoreCase(u, "m")) return 1;
  if (EqualsIgnoreCase(u, "km")) return 1000;
  if (EqualsIgnoreCase(u, "ft")) return 0.3048;
  if (EqualsIgnoreCase(u, "mi")) return 1609.34;
  *err = "ERR unsupported unit provided. please use M, KM, FT, MI";
  return -1;
}

bool ParseDistance(std::string_view value, std::string_view unit, geo::Shape* shape, std::string* err) {
  auto d = ParseDouble(value);
  if (!d) {
    *err = "ERR need numeric radius";
    return false;
  }
  if (*d < 0) {
    *err = "ERR radius cannot be negative";
    return false;
  }
  shape->radius = *d;
  double conv = ParseUnit(unit, err);
  if (conv < 0) return false;
  shape->conversion = conv;
  return true;
}

bool ParseBox(std::string_view w, std::string_view h, std::string_view unit, geo::Shape* shape, std::string* err) {
  auto wd = ParseDouble(w);
  if (!wd) {
    *err = "ERR need numeric width";
    return false;
  }
  auto hd = ParseDouble(h);
  if (!hd) {
    *err = "ERR need numeric height";
    return false;
  }
  if (*hd < 0 || *wd < 0) {
    *err = "ERR height or width cannot be negative";
    return false;
  }
  shape->width = *wd;
  shape->height = *hd;
  double conv = ParseUnit(unit, err);
  if (conv < 0) return false;
  shape->conversion = conv;
  return true;
}

std::string FormatDistance(double d) {
  char buf[128];
  int n = std::snprintf(buf, sizeof buf, "%.4f", d);
  return std::string(buf, n);
}

// Redis's addReplyHumanLongDouble: a bulk in RESP2, a double in RESP3.
void ReplyHumanDouble(ReplyBuilder& rb, double v) {
  std::string s = FormatLongDoubleHuman(v);
  if (rb.protocol() > 2) rb.Raw("," + s + "\r\n");
  else rb.Bulk(s);
}

// ---------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS

void GeoAddCommand(CommandContext& c) {
  bool nx = false, xx = false, ch = false;
  size_t idx = 2;
  for (; idx < c.args.size(); ++idx) {
    if (EqualsIgnoreCase(c.args[idx], "nx")) nx = true;
    else if (EqualsIgnoreCase(c.args[idx], "xx")) xx = true;
    else if (EqualsIgnoreCase(c.args[idx], "ch")) ch = true;
    else break;
  }
  size_t rest = c.args.size() - idx;
  if (rest % 3 || (nx && xx) || rest == 0) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  size_t n = rest / 3;
  std::vector<double> scores(n);
  for (size_t i = 0; i < n; ++i) {
    double xy[2];
    std::string err;
    if (!ParseLongLat(c.args[idx + 3 * i], c.args[idx + 3 * i + 1], xy, &err)) {
      c.reply.Error(err);
      return;
    }
    geo::HashBits h;
    geo::EncodeWGS84(xy[0], xy[1], geo::kStepMax, &h);
    scores[i] = static_cast<double>(geo::Align52Bits(h));
  }
  Slot* slot;
  if (!FindTypedForWrite(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot && xx) {
    c.reply.Integer(0);
    return;
  }
  if (!slot) slot = AddObjectKey(c.shard, c.db, c.args[1], ZsetObject::NewForAdd(c.args[idx + 2].size()));
  ZsetObject* z = ZsetOf(slot);
  unsigned flags = (nx ? unsigned{kZAddNx} : 0u) | (xx ? unsigned{kZAddXx} : 0u);
  int64_t added = 0, updated = 0;
  for (size_t i = 0; i < n; ++i) {
    unsigned out = 0;
    double ns;
    z->Add(scores[i], c.args[idx + 3 * i + 2], flags, &out, &ns);
    if (out & kZAddOutAdded) ++added;
    if (out & kZAddOutUpdated) ++updated;
  }
  if (z->size() == 0) c.shard.Erase(c.db, slot);
  if (added + updated) {
    c.effects.MarkDirty(added + updated);
    c.shard.NotifyKeyspaceEvent(kNotifyZset, "zadd", c.db, c.args[1]);  // GEOADD is ZADD in Redis
  }
  c.reply.Integer(ch ? added + updated : added);
}

void GeoDistCommand(CommandContext& c) {
  double to_meter = 1;
  if (c.args.size() == 5) {
    std::string err;
    to_meter = ParseUnit(c.args[4], &err);
    if (to_meter < 0) {
      c.reply.Error(err);
      return;
    }
  } else if (c.args.size() > 5) {
    c.reply.Error(errors::kSyntax);
    return;
  }
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  if (!slot) {
    c.reply.Null();
    return;
  }
  auto s1 = ZsetOf(slot)->Score(c.args[2]);
  auto s2 = ZsetOf(slot)->Score(c.args[3]);
  double a[2], b[2];
  if (!s1 || !s2 || !geo::DecodeScore(*s1, a) || !geo::DecodeScore(*s2, b)) {
    c.reply.Null();
    return;
  }
  c.reply.Bulk(FormatDistance(geo::Distance(a[0], a[1], b[0], b[1]) / to_meter));
}

void GeoHashCommand(CommandContext& c) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  c.reply.ArrayHeader(c.args.size() - 2);
  for (size_t j = 2; j < c.args.size(); ++j) {
    auto s = slot ? ZsetOf(slot)->Score(c.args[j]) : std::nullopt;
    std::string h = s ? geo::GeohashString(*s) : std::string();
    if (h.empty()) c.reply.Null();
    else c.reply.Bulk(h);
  }
}

void GeoPosCommand(CommandContext& c) {
  const Slot* slot;
  if (!FindTyped(c, c.args[1], ValueType::kZset, &slot)) return;
  c.reply.ArrayHeader(c.args.size() - 2);
  for (size_t j = 2; j < c.args.size(); ++j) {
    auto s = slot ? ZsetOf(slot)->Score(c.args[j]) : std::nullopt;
    double xy[2];
    if (!s || !geo::DecodeScore(*s, xy)) {
      c.reply.NullArray();
      continue;
    }
    c.reply.ArrayHeader(2);
    ReplyHumanDouble(c.reply, xy[0]);
    ReplyHumanDouble(c.reply, xy[1]);
  }
}

// ---------------------------------------------------------------------------------
// Searches

enum SearchFlags : unsigned {
  kByCoords = 1,     // GEORADIUS key lon lat radius unit ...
  kByMember = 2,     // GEORADIUSBYMEMBER key member radius unit ...
  kNoStore = 4,      // the _RO variants
  kGeoSearch = 8,    // GEOSEARCH key FROMMEMBER|FROMLONLAT BYRADIUS|BYBOX ...
  kSearchStore = 16  // GEOSEARCHSTORE dst src ...
};

// The index of the STORE/STOREDIST destination of a GEORADIUS-style command, found
// with the same walk as the option parser (0 when there is none).
size_t RadiusStoreKey(ArgList args, size_t base) {
  size_t store = 0;
  for (size_t i = base; i < args.size(); ++i) {
    std::string_view a = args[i];
    bool has_next = i + 1 < args.size();
    if (EqualsIgnoreCase(a, "withdist") || EqualsIgnoreCase(a, "withhash") || EqualsIgnoreCase(a, "withcoord") ||
        EqualsIgnoreCase(a, "any") || EqualsIgnoreCase(a, "asc") || EqualsIgnoreCase(a, "desc")) {
      continue;
    }
    if (has_next && EqualsIgnoreCase(a, "count")) {
      ++i;
    } else if (has_next && (EqualsIgnoreCase(a, "store") || EqualsIgnoreCase(a, "storedist"))) {
      store = ++i;
    } else {
      break;
    }
  }
  return store;
}

std::vector<size_t> GeoRadiusKeys(ArgList args) {
  std::vector<size_t> keys{1};
  if (size_t s = RadiusStoreKey(args, 6)) keys.push_back(s);
  return keys;
}
std::vector<size_t> GeoRadiusByMemberKeys(ArgList args) {
  std::vector<size_t> keys{1};
  if (size_t s = RadiusStoreKey(args, 5)) keys.push_back(s);
  return keys;
}

struct GeoPoint {
  std::string member;
  double lon, lat, dist, score;
};

class GeoSearchOp : public MultiShardOp {
 public:
  GeoSearchOp(ArgList args, unsigned flags) : flags_(flags), src_(flags & kSearchStore ? 2 : 1) {
    if (!(flags & (kGeoSearch | kNoStore))) store_idx_ = RadiusStoreKey(args, flags & kByCoords ? 6 : 5);
    if (flags & kSearchStore) store_idx_ = 1;
  }

  HopPlan FirstHop(unsigned) override { return {HopTarget::kShardOfKey, src_}; }

  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) {
      Search(h);
      return;
    }
    ScoredItems items;
    items.reserve(returned_);
    for (size_t i = 0; i < returned_; ++i)
      items.emplace_back(std::move(points_[i].member), storedist_ ? points_[i].dist / shape_.conversion
                                                                  : points_[i].score);
    std::string_view key = h.args[store_idx_];
    if (items.empty()) {
      if (h.shard.Delete(h.db, key, h.now_ms)) {
        h.effects.MarkDirty();
        h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, key);
      }
      return;
    }
    h.shard.Upsert(h.db, key, Value(ZsetObject::Build(std::move(items))), h.now_ms);
    h.effects.MarkDirty(returned_);
    h.shard.NotifyKeyspaceEvent(kNotifyZset,
                                EqualsIgnoreCase(h.args[0], "geosearchstore") ? "geosearchstore" : "georadiusstore",
                                h.db, key);
  }

  int max_hops() const override { return 2; }
  HopPlan NextHop(int hop) override {
    if (hop == 0 && error_.empty() && store_) return {HopTarget::kShardOfKey, store_idx_};
    return {};
  }

  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) {
      rb.Error(error_);
      return;
    }
    if (store_) {
      rb.Integer(static_cast<int64_t>(returned_));
      return;
    }
    size_t options = withdist_ + withhash_ + withcoord_;
    rb.ArrayHeader(returned_);
    for (size_t i = 0; i < returned_; ++i) {
      const GeoPoint& p = points_[i];
      if (options) rb.ArrayHeader(options + 1);
      rb.Bulk(p.member);
      if (withdist_) rb.Bulk(FormatDistance(p.dist / shape_.conversion));
      if (withhash_) rb.Integer(static_cast<int64_t>(p.score));
      if (withcoord_) {
        rb.ArrayHeader(2);
        ReplyHumanDouble(rb, p.lon);
        ReplyHumanDouble(rb, p.lat);
      }
    }
  }

 private:
  using ScoredItems = std::vector<std::pair<std::string, double>>;

  // georadiusGeneric's order: type check, centre and shape, options, then the
  // cross-option checks, then the search.
  void Search(HopContext& h) {
    ArgList args = h.args;
    const Slot* slot = FindSource(h.shard, h.db, args[src_], h.now_ms, store_);
    if (slot && slot->value.type() != ValueType::kZset) {
      error_ = errors::kWrongType;
      return;
    }
    const ZsetObject* z = ZsetOf(slot);
    size_t base;
    if (flags_ & kByCoords) {
      base = 6;
      if (!ParseLongLat(args[2], args[3], shape_.xy, &error_)) return;
      if (!ParseDistance(args[4], args[5], &shape_, &error_)) return;
    } else if (flags_ & kByMember) {
      base = 5;
      if (z) {
        if (!MemberCentre(*z, args[2])) return;
        if (!ParseDistance(args[3], args[4], &shape_, &error_)) return;
      }
    } else {
      base = flags_ & kSearchStore ? 3 : 2;
      store_ = flags_ & kSearchStore;
    }

    bool any = false, frommember = false, fromloc = false, byradius = false, bybox = false;
    int64_t count = 0;
    int sort = 0;  // 0 none, 1 asc, 2 desc
    size_t remaining = args.size() - base;
    for (size_t i = 0; i < remaining; ++i) {
      std::string_view a = args[base + i];
      auto next = [&](size_t k) { return args[base + i + k]; };
      bool radius_store = !(flags_ & kNoStore) && !(flags_ & kGeoSearch);
      if (EqualsIgnoreCase(a, "withdist")) {
        withdist_ = true;
      } else if (EqualsIgnoreCase(a, "withhash")) {
        withhash_ = true;
      } else if (EqualsIgnoreCase(a, "withcoord")) {
        withcoord_ = true;
      } else if (EqualsIgnoreCase(a, "any")) {
        any = true;
      } else if (EqualsIgnoreCase(a, "asc")) {
        sort = 1;
      } else if (EqualsIgnoreCase(a, "desc")) {
        sort = 2;
      } else if (EqualsIgnoreCase(a, "count") && i + 1 < remaining) {
        auto v = ParseInt64(next(1));
        if (!v) {
          error_ = errors::kNotInteger;
          return;
        }
        if (*v <= 0) {
          error_ = "ERR COUNT must be > 0";
          return;
        }
        count = *v;
        ++i;
      } else if (EqualsIgnoreCase(a, "store") && i + 1 < remaining && radius_store) {
        store_ = true;
        storedist_ = false;
        ++i;
      } else if (EqualsIgnoreCase(a, "storedist") && i + 1 < remaining && radius_store) {
        store_ = true;
        storedist_ = true;
        ++i;
      } else if (EqualsIgnoreCase(a, "storedist") && (flags_ & kGeoSearch) && (flags_ & kSearchStore)) {
        storedist_ = true;
      } else if (EqualsIgnoreCase(a, "frommember") && i + 1 < remaining && (flags_ & kGeoSearch) && !fromloc) {
        if (z && !MemberCentre(*z, next(1))) return;
        frommember = true;
        ++i;
      } else if (EqualsIgnoreCase(a, "fromlonlat") && i + 2 < remaining && (flags_ & kGeoSearch) && !frommember) {
        if (!ParseLongLat(next(1), next(2), shape_.xy, &error_)) return;
        fromloc = true;
        i += 2;
      } else if (EqualsIgnoreCase(a, "byradius") && i + 2 < remaining && (flags_ & kGeoSearch) && !bybox) {
        if (!ParseDistance(next(1), next(2), &shape_, &error_)) return;
        shape_.box = false;
        byradius = true;
        i += 2;
      } else if (EqualsIgnoreCase(a, "bybox") && i + 3 < remaining && (flags_ & kGeoSearch) && !byradius) {
        if (!ParseBox(next(1), next(2), next(3), &shape_, &error_)) return;
        shape_.box = true;
        bybox = true;
        i += 3;
      } else {
        error_ = errors::kSyntax;
        return;
      }
    }

    if (store_ && (withdist_ || withhash_ || withcoord_)) {
      error_ = std::string("ERR ") + (flags_ & kSearchStore ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS") +
               " is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
      return;
    }
    if ((flags_ & kGeoSearch) && !(frommember || fromloc)) {
      error_ = "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for " + std::string(args[0]);
      return;
    }
    if ((flags_ & kGeoSearch) && !(byradius || bybox)) {
      error_ = "ERR exactly one of BYRADIUS and BYBOX can be specified for " + std::string(args[0]);
      return;
    }
    if (any && !count) {
      error_ = "ERR the ANY argument requires COUNT argument";
      return;
    }
    if (!z) return;  // nothing found: an empty reply, or the destination deleted

    if (count != 0 && sort == 0 && !any) sort = 1;
    Collect(*z, any ? static_cast<size_t>(count) : 0);
    size_t total = points_.size();
    returned_ = (count == 0 || total < static_cast<size_t>(count)) ? total : static_cast<size_t>(count);
    if (sort) {
      auto asc = [](const GeoPoint& a, const GeoPoint& b) { return a.dist < b.dist; };
      auto desc = [](const GeoPoint& a, const GeoPoint& b) { return a.dist > b.dist; };
      if (sort == 1) std::stable_sort(points_.begin(), points_.end(), asc);
      else std::stable_sort(points_.begin(), points_.end(), desc);
    }
  }

  bool MemberCentre(const ZsetObject& z, std::string_view member) {
    auto s = z.Score(member);
    if (!s || !geo::DecodeScore(*s, shape_.xy)) {
      error_ = "ERR could not decode requested zset member";
      return false;
    }
    return true;
  }

  // The points of the nine cells that fall inside the shape, cell by cell in Redis's
  // order (centre, N, S, E, W, NE, NW, SE, SW), each cell in score order. Stops at
  // `limit` points when non-zero (COUNT ... ANY).
  void Collect(const ZsetObject& z, size_t limit) {
    geo::SearchArea area = geo::AreasByShape(&shape_);
    const geo::Neighbors& n = area.neighbors;
    geo::HashBits cells[9] = {area.hash,     n.north,        n.south,        n.east,      n.west,
                              n.north_east, n.north_west, n.south_east, n.south_west};
    size_t last = 0;
    for (size_t i = 0; i < 9; ++i) {
      if (cells[i].zero()) continue;
      // Huge radii make neighbouring cells coincide; skip a repeat of the previous.
      if (last && cells[i].bits == cells[last].bits && cells[i].step == cells[last].step) continue;
      if (!points_.empty() && limit && points_.size() >= limit) break;
      geo::HashBits hi = cells[i];
      double min = static_cast<double>(geo::Align52Bits(hi));
      hi.bits++;
      double max = static_cast<double>(geo::Align52Bits(hi));
      ZScoreRange range{min, max, false, true};
      auto [first, end] = z.ScoreRankRange(range);
      z.Walk(first, end, false, [&](std::string_view m, double score) {
        double xy[2], dist;
        if (geo::DecodeScore(score, xy) && geo::DistanceIfInShape(shape_, xy[0], xy[1], &dist))
          points_.push_back({std::string(m), xy[0], xy[1], dist, score});
        return !(!points_.empty() && limit && points_.size() >= limit);
      });
      last = i;
    }
  }

  unsigned flags_;
  size_t src_;
  size_t store_idx_ = 0;
  bool store_ = false, storedist_ = false;
  bool withdist_ = false, withhash_ = false, withcoord_ = false;
  geo::Shape shape_;
  std::vector<GeoPoint> points_;
  size_t returned_ = 0;
  std::string error_;
};

std::unique_ptr<MultiShardOp> MakeGeoRadius(ArgList a) { return std::make_unique<GeoSearchOp>(a, kByCoords); }
std::unique_ptr<MultiShardOp> MakeGeoRadiusRo(ArgList a) {
  return std::make_unique<GeoSearchOp>(a, kByCoords | kNoStore);
}
std::unique_ptr<MultiShardOp> MakeGeoRadiusByMember(ArgList a) { return std::make_unique<GeoSearchOp>(a, kByMember); }
std::unique_ptr<MultiShardOp> MakeGeoRadiusByMemberRo(ArgList a) {
  return std::make_unique<GeoSearchOp>(a, kByMember | kNoStore);
}
std::unique_ptr<MultiShardOp> MakeGeoSearch(ArgList a) { return std::make_unique<GeoSearchOp>(a, kGeoSearch); }
std::unique_ptr<MultiShardOp> MakeGeoSearchStore(ArgList a) {
  return std::make_unique<GeoSearchOp>(a, kGeoSearch | kSearchStore);
}

}  // namespace

void RegisterGeoFamily(CommandTable& t) {
  constexpr uint32_t R = kCmdReadOnly, W = kCmdWrite, M = kCmdDenyOom;
  CommandFamily family(t, kAclGeo);
  family << CommandRow("geoadd", -5, W | M, 1, 1, 1).Shard(GeoAddCommand)
         << CommandRow("geodist", -4, R, 1, 1, 1).Shard(GeoDistCommand)
         << CommandRow("geohash", -2, R, 1, 1, 1).Shard(GeoHashCommand)
         << CommandRow("geopos", -2, R, 1, 1, 1).Shard(GeoPosCommand)
         << CommandRow("georadius", -6, W | M, 1, 1, 1).MultiShard(MakeGeoRadius).Keys(GeoRadiusKeys)
         << CommandRow("georadiusbymember", -5, W | M, 1, 1, 1)
                .MultiShard(MakeGeoRadiusByMember)
                .Keys(GeoRadiusByMemberKeys)
         << CommandRow("georadius_ro", -6, R, 1, 1, 1).MultiShard(MakeGeoRadiusRo)
         << CommandRow("georadiusbymember_ro", -5, R, 1, 1, 1).MultiShard(MakeGeoRadiusByMemberRo)
         << CommandRow("geosearch", -7, R, 1, 1, 1).MultiShard(MakeGeoSearch)
         << CommandRow("geosearchstore", -8, W | M, 1, 2, 1).MultiShard(MakeGeoSearchStore);
}

}  // namespace darter::store
