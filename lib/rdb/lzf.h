// LZF (liblzf format) decompression and compression, as used for RDB
// strings of special encoding 0xC3.
//
// Stateless functions: safe for concurrent use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace darter::rdb {

// Decompresses `in` into `out` (replacing its contents). Succeeds only when
// the stream decodes cleanly to exactly `expected_len` bytes; every
// back-reference is bounds-checked, so hostile input cannot read or write
// outside the buffers. On failure `*error` names the problem and its offset
// inside `in`.
bool LzfDecompress(std::string_view in, size_t expected_len, std::string* out,
                   std::string* error);

// Same, into caller memory of exactly `expected_len` bytes.
bool LzfDecompressTo(std::string_view in, char* out, size_t expected_len, std::string* error);

// The most output one input byte can justify: a 3-byte back-reference
// expands to at most 264 bytes. Readers use it to refuse an announced
// uncompressed length before allocating for it.
inline constexpr uint64_t kLzfMaxExpansion = 88;

// Compresses `in`. Returns false (and leaves `out` unspecified) when the
// result would not be smaller than `max_out` bytes; callers then store the
// data uncompressed.
bool LzfCompress(std::string_view in, size_t max_out, std::string* out);

}  // namespace darter::rdb
