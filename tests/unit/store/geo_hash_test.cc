#include <doctest/doctest.h>

#include <cmath>

#include "store/geohash.h"

using namespace darter::store::geo;

TEST_CASE("Geohash encodes Palermo to Redis's 52-bit score and back") {
  HashBits h;
  REQUIRE(EncodeWGS84(13.361389, 38.115556, kStepMax, &h));
  CHECK(Align52Bits(h) == 3479099956230698ull);  // ZSCORE after Redis's GEOADD
  double xy[2];
  REQUIRE(DecodeScore(3479099956230698.0, xy));
  CHECK(std::fabs(xy[0] - 13.36138933897018433) < 1e-12);
  CHECK(std::fabs(xy[1] - 38.11555639549629859) < 1e-12);
  CHECK(GeohashString(3479099956230698.0) == "sqc8b49rny0");
}

TEST_CASE("Geohash refuses points outside the Mercator band") {
  HashBits h;
  CHECK_FALSE(EncodeWGS84(181, 0, kStepMax, &h));
  CHECK_FALSE(EncodeWGS84(0, 85.06, kStepMax, &h));
  CHECK(EncodeWGS84(180, 85.05112878, kStepMax, &h));
}

TEST_CASE("Distances use Redis's haversine and earth radius") {
  // GEODIST Sicily Palermo Catania on redis-server: 166274.1516 m.
  double a[2], b[2];
  DecodeScore(3479099956230698.0, a);
  DecodeScore(3479447370796909.0, b);
  CHECK(std::fabs(Distance(a[0], a[1], b[0], b[1]) - 166274.1516) < 1e-4);
  CHECK(Distance(10, 10, 10, 11) == LatDistance(10, 11));
}

TEST_CASE("Neighbours are the adjacent cells of the same step") {
  HashBits h;
  REQUIRE(EncodeWGS84(15, 37, 10, &h));
  Neighbors n;
  GetNeighbors(h, &n);
  Area c, e, no;
  REQUIRE(Decode({-180, 180}, {kLatMin, kLatMax}, h, &c));
  REQUIRE(Decode({-180, 180}, {kLatMin, kLatMax}, n.east, &e));
  REQUIRE(Decode({-180, 180}, {kLatMin, kLatMax}, n.north, &no));
  CHECK(e.longitude.min == doctest::Approx(c.longitude.max));
  CHECK(e.latitude.min == doctest::Approx(c.latitude.min));
  CHECK(no.latitude.min == doctest::Approx(c.latitude.max));
  CHECK(EstimateStepsByRadius(200000, 37) == 6);
  Shape s;
  s.xy[0] = 15;
  s.xy[1] = 37;
  s.radius = 200;
  s.conversion = 1000;
  SearchArea area = AreasByShape(&s);
  CHECK(area.hash.step >= 1);
  double d;
  CHECK(DistanceIfInShape(s, 15.087269, 37.502669, &d));
  CHECK_FALSE(DistanceIfInShape(s, 13.361389, 38.115556 + 2, &d));
}
