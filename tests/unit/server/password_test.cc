#include <doctest/doctest.h>

#include <string>

#include "server/core/password.h"

using darter::server::PasswordsMatch;

TEST_CASE("PasswordsMatch: equal only when both strings are equal, whatever their lengths") {
  CHECK(PasswordsMatch("s3cret", "s3cret"));
  CHECK(PasswordsMatch("", ""));
  CHECK_FALSE(PasswordsMatch("s3cret", "s3cre"));
  CHECK_FALSE(PasswordsMatch("s3cre", "s3cret"));
  CHECK_FALSE(PasswordsMatch("s3cret", "S3cret"));
  CHECK_FALSE(PasswordsMatch("", "x"));
  std::string a(1 << 16, 'a'), b = a;
  b.back() = 'b';
  CHECK(PasswordsMatch(a, a));
  CHECK_FALSE(PasswordsMatch(a, b));
  CHECK(PasswordsMatch(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(PasswordsMatch(std::string("a\0b", 3), std::string("a\0c", 3)));
}
