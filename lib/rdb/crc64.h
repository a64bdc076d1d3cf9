// CRC-64 as used by Redis RDB files and DUMP payloads (CRC-64/REDIS: Jones
// polynomial 0xAD93D23594C935A9, reflected in and out, init 0, no final xor;
// check value for "123456789" is 0xE9C6D914C4B8D9CA).
//
// Pure functions over immutable tables built at static-initialisation time:
// safe for concurrent use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace darter::rdb {

// Extends `crc` (0 to start) with `n` bytes at `data`. Crc64(Crc64(0,a),b) ==
// Crc64(0, a+b), so a stream can be checksummed piece by piece.
uint64_t Crc64(uint64_t crc, const void* data, size_t n);

inline uint64_t Crc64(uint64_t crc, std::string_view s) { return Crc64(crc, s.data(), s.size()); }

}  // namespace darter::rdb
