// Object::MallocUsedSampled (MEMORY USAGE ... SAMPLES n): hash and set tables estimate
// their elements' heap blocks from n of them; everything else is exact.
#include <doctest/doctest.h>

#include <string>

#include "store/hash_object.h"
#include "store/list_object.h"
#include "store/set_object.h"

using namespace darter::store;

namespace {

std::string Member(int i, size_t len) {
  std::string s = "m" + std::to_string(i);
  s.resize(len, 'x');
  return s;
}

}  // namespace

TEST_CASE("a sampled hash or set table size is near the exact one; enough samples are exact") {
  HashObject h;
  SetObject s;
  for (int i = 0; i < 20000; ++i) {
    // Mixed lengths: inline (<= 15 bytes) and heap members, so samples see both.
    h.Set(Member(i, 10 + i % 40), Member(i, 20 + i % 30));
    s.Add(Member(i, 10 + i % 40));
  }
  REQUIRE(h.is_table());
  REQUIRE(s.encoding() == SetObject::Encoding::kHashtable);
  for (const Object* o : {static_cast<const Object*>(&h), static_cast<const Object*>(&s)}) {
    const size_t exact = o->MallocUsed();
    // Five samples of elements whose blocks range from none (inline) to ~100 bytes give
    // an estimate of the right order only (which five depends on the table's seeded
    // layout, so it varies between runs); 50 and 1000 come within 20%.
    const size_t est5 = o->MallocUsedSampled(5);
    CHECK(est5 > exact / 2);
    CHECK(est5 < exact * 2);
    for (size_t samples : {50u, 1000u}) {
      CAPTURE(samples);
      const size_t est = o->MallocUsedSampled(samples);
      CHECK(est > exact * 8 / 10);
      CHECK(est < exact * 12 / 10);
    }
    CHECK(o->MallocUsedSampled(20000) == exact);
    CHECK(o->MallocUsedSampled(1u << 30) == exact);
  }
}

TEST_CASE("small encodings ignore the sample count") {
  HashObject h;
  SetObject s;
  for (int i = 0; i < 10; ++i) {
    h.Set(Member(i, 30), Member(i, 30));
    s.Add(std::to_string(i));
  }
  REQUIRE_FALSE(h.is_table());
  CHECK(h.MallocUsedSampled(1) == h.MallocUsed());
  CHECK(s.MallocUsedSampled(1) == s.MallocUsed());
}
