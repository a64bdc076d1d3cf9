// FUNCTION DUMP / RESTORE payloads (rdb/function_payload.h): a payload written by Redis
// 7.0 (LZF-compressed library source) decodes; our payloads round-trip; a bad CRC, a
// newer version or a record that is not a library is refused.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rdb/crc64.h"
#include "rdb/function_payload.h"

using darter::rdb::DecodeFunctionsPayload;
using darter::rdb::EncodeFunctionsPayload;

namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Redis 7.0.15's FUNCTION DUMP of the one library below.
constexpr std::string_view kRedisPayloadHex =
    "f5c3405c407e1f23216c7561206e616d653d7061796c6f61646c69620a72656469732e7265676913737465725f66756e6374696f6e2827"
    "7066272c20e0000e136b6579732c2061726773292072657475726e2027a0450020e01607052720656e64290a006ee12452c22afcf7";
const std::string kRedisLibrary =
    "#!lua name=payloadlib\nredis.register_function('pf', function(keys, args) return 'payload payload payload "
    "payload payload' end)";

// Re-seals a payload body with a version and a correct CRC.
std::string Seal(std::string body, uint16_t version) {
  body.push_back(static_cast<char>(version & 0xff));
  body.push_back(static_cast<char>(version >> 8));
  uint64_t crc = darter::rdb::Crc64(0, body);
  for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return body;
}

}  // namespace

TEST_CASE("function payload: Redis 7.0's FUNCTION DUMP decodes") {
  std::vector<std::string> libs;
  REQUIRE(DecodeFunctionsPayload(FromHex(kRedisPayloadHex), &libs).ok());
  REQUIRE(libs.size() == 1);
  CHECK(libs[0] == kRedisLibrary);
}

TEST_CASE("function payload: encode then decode keeps every library in order") {
  std::vector<std::string> in = {kRedisLibrary, "#!lua name=b\nredis.register_function('g', function() return 1 end)",
                                 std::string(5000, 'x')};
  std::string payload;
  REQUIRE(EncodeFunctionsPayload(in, &payload).ok());
  CHECK(static_cast<unsigned char>(payload[0]) == 245);
  CHECK(payload[payload.size() - 10] == 10);  // version 10, little-endian
  std::vector<std::string> out;
  REQUIRE(DecodeFunctionsPayload(payload, &out).ok());
  CHECK(out == in);
  // No libraries: the footer alone.
  REQUIRE(EncodeFunctionsPayload({}, &payload).ok());
  CHECK(payload.size() == 10);
  REQUIRE(DecodeFunctionsPayload(payload, &out).ok());
  CHECK(out.empty());
}

TEST_CASE("function payload: bad CRC, newer version, other records, truncation are refused") {
  std::string good = FromHex(kRedisPayloadHex);
  std::vector<std::string> libs;
  std::string bad_crc = good;
  bad_crc.back() ^= 1;
  CHECK_FALSE(DecodeFunctionsPayload(bad_crc, &libs).ok());
  std::string body = good.substr(0, good.size() - 10);
  CHECK_FALSE(DecodeFunctionsPayload(Seal(body, 99), &libs).ok());
  // An AUX record (opcode 250) where a library should be.
  std::string aux = "\xfa\x01" "a" "\x01" "b";
  CHECK_FALSE(DecodeFunctionsPayload(Seal(aux, 10), &libs).ok());
  // A key record (type 0, string).
  std::string key = std::string("\x00\x01k\x01v", 5);
  CHECK_FALSE(DecodeFunctionsPayload(Seal(key, 10), &libs).ok());
  // The body cut in the middle of the library's string.
  CHECK_FALSE(DecodeFunctionsPayload(Seal(body.substr(0, body.size() / 2), 10), &libs).ok());
  CHECK_FALSE(DecodeFunctionsPayload("short", &libs).ok());
}
