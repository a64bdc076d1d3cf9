#include <doctest/doctest.h>

#include <string>

#include "store/compact_string.h"
#include "store/value.h"

using darter::store::CompactString;
using darter::store::Value;

TEST_CASE("CompactString keeps short strings inline and long ones on the heap") {
  CompactString a("hello");
  CHECK(!a.is_heap());
  CHECK(a.view() == "hello");
  std::string fifteen(15, 'x');
  CompactString b(fifteen);
  CHECK(!b.is_heap());
  CHECK(b.view() == fifteen);
  std::string sixteen(16, 'y');
  CompactString c(sixteen);
  CHECK(c.is_heap());
  CHECK(c.view() == sixteen);
  CHECK(c.heap_bytes() >= 16);
}

TEST_CASE("CompactString copies, moves and self-assigns from its own bytes") {
  CompactString a(std::string(40, 'a'));
  CompactString b = a;
  CHECK(b.view() == a.view());
  CompactString m = std::move(a);
  CHECK(m.view() == std::string(40, 'a'));
  CHECK(a.empty());
  m.Assign(m.view().substr(5, 20));  // source aliases destination
  CHECK(m.view() == std::string(20, 'a'));
  m.Assign(m.view().substr(0, 3));
  CHECK(!m.is_heap());
  CHECK(m.view() == "aaa");
}

TEST_CASE("CompactString::Resize grows with zeros and shrinks back inline") {
  CompactString s("ab");
  s.Resize(20);
  CHECK(s.size() == 20);
  CHECK(s.view().substr(0, 2) == "ab");
  CHECK(s.view()[19] == '\0');
  s.Resize(1);
  CHECK(!s.is_heap());
  CHECK(s.view() == "a");
  s.Resize(0);
  CHECK(s.empty());
}

TEST_CASE("Value holds a string and moves without copying") {
  Value v("short");
  CHECK(v.is_string());
  CHECK(v.string_view() == "short");
  Value w(std::move(v));
  CHECK(w.string_view() == "short");
  CHECK(v.string_view().empty());
  Value big(std::string(100, 'z'));
  Value clone = big.Clone();
  CHECK(clone.string_view() == big.string_view());
  CHECK(clone.string_view().data() != big.string_view().data());
}

TEST_CASE("CompactString grows byte by byte in amortised constant time and keeps its bytes") {
  CompactString s;
  std::string model;
  for (int i = 0; i < 100000; ++i) {
    s.Resize(s.size() + 1);
    s.mutable_data()[s.size() - 1] = static_cast<char>('a' + i % 26);
    model.push_back(static_cast<char>('a' + i % 26));
  }
  CHECK(s.view() == model);
  s.Resize(10);
  CHECK(s.view() == model.substr(0, 10));
}
