// Geohash math for the GEO commands, following the published algorithm that Redis
// uses (interleaved 26+26-bit cells over longitude [-180, 180] and the Web Mercator
// latitude band [-85.05112878, 85.05112878], 52-bit zset scores, a 9-cell
// neighbourhood search, haversine distances on a sphere of radius 6372797.560856 m).
// The arithmetic is written so results match Redis 7.0 bit for bit: same operation
// order, same clamps, same truncations.
//
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace darter::store::geo {

inline constexpr double kLongMin = -180;
inline constexpr double kLongMax = 180;
inline constexpr double kLatMin = -85.05112878;
inline constexpr double kLatMax = 85.05112878;
inline constexpr int kStepMax = 26;  // 26 bits per coordinate: 52-bit scores
inline constexpr double kEarthRadiusMeters = 6372797.560856;

struct HashBits {
  uint64_t bits = 0;
  uint8_t step = 0;
  bool zero() const { return bits == 0 && step == 0; }
};

struct Range {
  double min = 0, max = 0;
};

struct Area {
  HashBits hash;
  Range longitude, latitude;
};

struct Neighbors {
  HashBits north, east, west, south, north_east, south_east, north_west, south_west;
};

// Interleaves `lat` into the even bits and `lon` into the odd bits of `step`-bit cells.
// Returns false when the point is outside the ranges or the Mercator band.
bool Encode(const Range& lon_range, const Range& lat_range, double longitude, double latitude, int step,
            HashBits* out);
bool EncodeWGS84(double longitude, double latitude, int step, HashBits* out);
bool Decode(const Range& lon_range, const Range& lat_range, const HashBits& hash, Area* area);
// The centre of a step-26 cell, clamped to the valid ranges. xy = {longitude, latitude}.
bool DecodeToLongLat(const HashBits& hash, double* xy);
// A zset score (a 52-bit cell number) back to {longitude, latitude}.
bool DecodeScore(double score, double* xy);

void GetNeighbors(const HashBits& hash, Neighbors* out);
// The cell number shifted to 52 bits (the zset score of its first point).
uint64_t Align52Bits(const HashBits& hash);

// Haversine distance in meters between two (longitude, latitude) points in degrees.
double Distance(double lon1, double lat1, double lon2, double lat2);
double LatDistance(double lat1, double lat2);

// A search shape: a circle (radius) or an axis-aligned box (width x height), in the
// unit given by `conversion` (meters per unit), centred at xy = {lon, lat}.
struct Shape {
  bool box = false;
  double xy[2] = {0, 0};
  double conversion = 1;
  double radius = 0;
  double width = 0, height = 0;
  double bounds[4] = {0, 0, 0, 0};  // min lon, min lat, max lon, max lat (filled by AreasByShape)
};

// The centre cell and its (possibly zeroed) neighbours that cover the shape.
struct SearchArea {
  HashBits hash;
  Neighbors neighbors;
  Area area;
};

int EstimateStepsByRadius(double range_meters, double lat);
SearchArea AreasByShape(Shape* shape);
// True (with the distance in meters from the shape's centre) when (lon, lat) is inside.
bool DistanceIfInShape(const Shape& shape, double lon, double lat, double* distance);

// The 11-character standard geohash (latitude range [-90, 90]) of a zset score, as
// GEOHASH prints it; empty when the score does not decode.
std::string GeohashString(double score);

}  // namespace darter::store::geo
