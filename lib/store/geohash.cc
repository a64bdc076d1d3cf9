// Geohash encoding, neighbours and distances (see geohash.h).
#include "store/geohash.h"

#include <cmath>

namespace darter::store::geo {
namespace {

constexpr double kDegToRad = M_PI / 180.0;
constexpr double kMercatorMax = 20037726.37;

inline double DegRad(double a) { return a * kDegToRad; }
inline double RadDeg(double a) { return a / kDegToRad; }

// Spreads the 32 bits of v over the even bit positions of a 64-bit word.
uint64_t Spread(uint32_t v) {
  uint64_t x = v;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFull;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFull;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0Full;
  x = (x | (x << 2)) & 0x3333333333333333ull;
  x = (x | (x << 1)) & 0x5555555555555555ull;
  return x;
}

// Gathers the even bits of x into 32 bits.
uint32_t Squash(uint64_t x) {
  x &= 0x5555555555555555ull;
  x = (x | (x >> 1)) & 0x3333333333333333ull;
  x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0Full;
  x = (x | (x >> 4)) & 0x00FF00FF00FF00FFull;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFFull;
  x = (x | (x >> 16)) & 0x00000000FFFFFFFFull;
  return static_cast<uint32_t>(x);
}

Range LongRange() { return {kLongMin, kLongMax}; }
Range LatRange() { return {kLatMin, kLatMax}; }

// Moves a cell one step east/west (odd bits: longitude) keeping its latitude bits.
void MoveX(HashBits* h, int d) {
  if (d == 0) return;
  uint64_t x = h->bits & 0xAAAAAAAAAAAAAAAAull;
  uint64_t y = h->bits & 0x5555555555555555ull;
  uint64_t zz = 0x5555555555555555ull >> (64 - h->step * 2);
  if (d > 0) {
    x = x + (zz + 1);
  } else {
    x = x | zz;
    x = x - (zz + 1);
  }
  x &= (0xAAAAAAAAAAAAAAAAull >> (64 - h->step * 2));
  h->bits = x | y;
}

// Moves a cell one step north/south (even bits: latitude).
void MoveY(HashBits* h, int d) {
  if (d == 0) return;
  uint64_t x = h->bits & 0xAAAAAAAAAAAAAAAAull;
  uint64_t y = h->bits & 0x5555555555555555ull;
  uint64_t zz = 0xAAAAAAAAAAAAAAAAull >> (64 - h->step * 2);
  if (d > 0) {
    y = y + (zz + 1);
  } else {
    y = y | zz;
    y = y - (zz + 1);
  }
  y &= (0x5555555555555555ull >> (64 - h->step * 2));
  h->bits = x | y;
}

void BoundingBox(Shape* s) {
  double lon = s->xy[0], lat = s->xy[1];
  double height = s->conversion * (s->box ? s->height / 2 : s->radius);
  double width = s->conversion * (s->box ? s->width / 2 : s->radius);
  const double lat_delta = RadDeg(height / kEarthRadiusMeters);
  const double long_delta_top = RadDeg(width / kEarthRadiusMeters / std::cos(DegRad(lat + lat_delta)));
  const double long_delta_bottom = RadDeg(width / kEarthRadiusMeters / std::cos(DegRad(lat - lat_delta)));
  // Lines of longitude converge towards the pole: the wider edge of the box is the
  // one nearer the equator.
  bool southern = lat < 0;
  s->bounds[0] = southern ? lon - long_delta_bottom : lon - long_delta_top;
  s->bounds[2] = southern ? lon + long_delta_bottom : lon + long_delta_top;
  s->bounds[1] = lat - lat_delta;
  s->bounds[3] = lat + lat_delta;
}

}  // namespace

bool Encode(const Range& lon_range, const Range& lat_range, double longitude, double latitude, int step,
            HashBits* out) {
  if (step > 32 || step == 0) return false;
  if (longitude > kLongMax || longitude < kLongMin || latitude > kLatMax || latitude < kLatMin) return false;
  out->bits = 0;
  out->step = static_cast<uint8_t>(step);
  if (latitude < lat_range.min || latitude > lat_range.max || longitude < lon_range.min ||
      longitude > lon_range.max)
    return false;
  double lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
  double long_offset = (longitude - lon_range.min) / (lon_range.max - lon_range.min);
  lat_offset *= static_cast<double>(1ull << step);
  long_offset *= static_cast<double>(1ull << step);
  out->bits = Spread(static_cast<uint32_t>(lat_offset)) | (Spread(static_cast<uint32_t>(long_offset)) << 1);
  return true;
}

bool EncodeWGS84(double longitude, double latitude, int step, HashBits* out) {
  return Encode(LongRange(), LatRange(), longitude, latitude, step, out);
}

bool Decode(const Range& lon_range, const Range& lat_range, const HashBits& hash, Area* area) {
  if (hash.zero()) return false;
  area->hash = hash;
  uint32_t ilato = Squash(hash.bits);
  uint32_t ilono = Squash(hash.bits >> 1);
  double lat_scale = lat_range.max - lat_range.min;
  double long_scale = lon_range.max - lon_range.min;
  double cells = static_cast<double>(1ull << hash.step);
  area->latitude.min = lat_range.min + (ilato * 1.0 / cells) * lat_scale;
  area->latitude.max = lat_range.min + ((ilato + 1) * 1.0 / cells) * lat_scale;
  area->longitude.min = lon_range.min + (ilono * 1.0 / cells) * long_scale;
  area->longitude.max = lon_range.min + ((ilono + 1) * 1.0 / cells) * long_scale;
  return true;
}

bool DecodeToLongLat(const HashBits& hash, double* xy) {
  Area area;
  if (!Decode(LongRange(), LatRange(), hash, &area)) return false;
  xy[0] = (area.longitude.min + area.longitude.max) / 2;
  if (xy[0] > kLongMax) xy[0] = kLongMax;
  if (xy[0] < kLongMin) xy[0] = kLongMin;
  xy[1] = (area.latitude.min + area.latitude.max) / 2;
  if (xy[1] > kLatMax) xy[1] = kLatMax;
  if (xy[1] < kLatMin) xy[1] = kLatMin;
  return true;
}

bool DecodeScore(double score, double* xy) {
  HashBits h;
  // Scores of points are exact 52-bit integers; anything else decodes as Redis's
  // (uint64_t) cast would on x86-64 for in-range values.
  h.bits = score >= 0 && score < 18446744073709551616.0 ? static_cast<uint64_t>(score) : 0;
  h.step = kStepMax;
  return DecodeToLongLat(h, xy);
}

void GetNeighbors(const HashBits& hash, Neighbors* n) {
  n->east = n->west = n->north = n->south = hash;
  n->south_east = n->south_west = n->north_east = n->north_west = hash;
  MoveX(&n->east, 1);
  MoveX(&n->west, -1);
  MoveY(&n->south, -1);
  MoveY(&n->north, 1);
  MoveX(&n->north_west, -1);
  MoveY(&n->north_west, 1);
  MoveX(&n->south_west, -1);
  MoveY(&n->south_west, -1);
  MoveX(&n->north_east, 1);
  MoveY(&n->north_east, 1);
  MoveX(&n->south_east, 1);
  MoveY(&n->south_east, -1);
}

uint64_t Align52Bits(const HashBits& hash) { return hash.bits << (52 - hash.step * 2); }

double LatDistance(double lat1, double lat2) {
  return kEarthRadiusMeters * std::fabs(DegRad(lat2) - DegRad(lat1));
}

double Distance(double lon1, double lat1, double lon2, double lat2) {
  double lon1r = DegRad(lon1), lon2r = DegRad(lon2);
  double v = std::sin((lon2r - lon1r) / 2);
  // Same meridian: the haversine reduces to the latitude difference.
  if (v == 0.0) return LatDistance(lat1, lat2);
  double lat1r = DegRad(lat1), lat2r = DegRad(lat2);
  double u = std::sin((lat2r - lat1r) / 2);
  double a = u * u + std::cos(lat1r) * std::cos(lat2r) * v * v;
  return 2.0 * kEarthRadiusMeters * std::asin(std::sqrt(a));
}

int EstimateStepsByRadius(double range_meters, double lat) {
  if (range_meters == 0) return 26;
  int step = 1;
  while (range_meters < kMercatorMax) {
    range_meters *= 2;
    step++;
  }
  step -= 2;  // so the range fits the 3x3 cells in the usual cases
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > 26) step = 26;
  return step;
}

SearchArea AreasByShape(Shape* shape) {
  BoundingBox(shape);
  double min_lon = shape->bounds[0], min_lat = shape->bounds[1];
  double max_lon = shape->bounds[2], max_lat = shape->bounds[3];
  double lon = shape->xy[0], lat = shape->xy[1];
  double radius_meters = shape->box ? std::sqrt((shape->width / 2) * (shape->width / 2) +
                                                (shape->height / 2) * (shape->height / 2))
                                    : shape->radius;
  radius_meters *= shape->conversion;

  int steps = EstimateStepsByRadius(radius_meters, lat);
  SearchArea r;
  EncodeWGS84(lon, lat, steps, &r.hash);
  GetNeighbors(r.hash, &r.neighbors);
  Decode(LongRange(), LatRange(), r.hash, &r.area);

  // Near a cell edge the estimated step can leave a neighbour too small to cover
  // the shape: then use cells twice as large.
  Area north, south, east, west;
  Decode(LongRange(), LatRange(), r.neighbors.north, &north);
  Decode(LongRange(), LatRange(), r.neighbors.south, &south);
  Decode(LongRange(), LatRange(), r.neighbors.east, &east);
  Decode(LongRange(), LatRange(), r.neighbors.west, &west);
  bool decrease = north.latitude.max < max_lat || south.latitude.min > min_lat || east.longitude.max < max_lon ||
                  west.longitude.min > min_lon;
  if (steps > 1 && decrease) {
    steps--;
    EncodeWGS84(lon, lat, steps, &r.hash);
    GetNeighbors(r.hash, &r.neighbors);
    Decode(LongRange(), LatRange(), r.hash, &r.area);
  }

  // Drop the neighbours the shape cannot reach.
  if (steps >= 2) {
    Neighbors& n = r.neighbors;
    if (r.area.latitude.min < min_lat) n.south = n.south_west = n.south_east = HashBits{};
    if (r.area.latitude.max > max_lat) n.north = n.north_east = n.north_west = HashBits{};
    if (r.area.longitude.min < min_lon) n.west = n.south_west = n.north_west = HashBits{};
    if (r.area.longitude.max > max_lon) n.east = n.south_east = n.north_east = HashBits{};
  }
  return r;
}

bool DistanceIfInShape(const Shape& s, double lon, double lat, double* distance) {
  if (!s.box) {
    *distance = Distance(s.xy[0], s.xy[1], lon, lat);
    return *distance <= s.radius * s.conversion;
  }
  double width_m = s.width * s.conversion, height_m = s.height * s.conversion;
  if (LatDistance(lat, s.xy[1]) > height_m / 2) return false;
  if (Distance(lon, lat, s.xy[0], lat) > width_m / 2) return false;
  *distance = Distance(s.xy[0], s.xy[1], lon, lat);
  return true;
}

std::string GeohashString(double score) {
  static constexpr char kAlphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
  double xy[2];
  if (!DecodeScore(score, xy)) return {};
  HashBits h;
  Encode(Range{-180, 180}, Range{-90, 90}, xy[0], xy[1], 26, &h);
  std::string out(11, '0');
  for (int i = 0; i < 11; ++i) {
    // 52 bits make 10 full characters; the 11th is 0 for compatibility.
    int idx = i == 10 ? 0 : static_cast<int>((h.bits >> (52 - (i + 1) * 5)) & 0x1F);
    out[i] = kAlphabet[idx];
  }
  return out;
}

}  // namespace darter::store::geo
