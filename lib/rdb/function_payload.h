// FUNCTION DUMP / FUNCTION RESTORE payloads (Redis 7.0's format): one FUNCTION2 record
// (opcode 245 + the library's source as an RDB string) per library, then the RDB version
// as 2 bytes little-endian, then the CRC-64 (little-endian) of everything before it.
// A payload from Redis restores here and one made here restores into Redis.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rdb/status.h"

namespace darter::rdb {

// The payload of `libraries` (their full sources, "#!lua name=..."), RDB version 10.
Status EncodeFunctionsPayload(const std::vector<std::string>& libraries, std::string* out);

// Checks the footer (version <= what the reader knows, CRC) and returns every library
// source of the payload in order. Any other record in the body is an error.
Status DecodeFunctionsPayload(std::string_view payload, std::vector<std::string>* libraries);

}  // namespace darter::rdb
