#include "rdb/lzf.h"

#include <cstring>
#include <vector>

namespace darter::rdb {

bool LzfDecompressTo(std::string_view in, char* out, size_t expected_len, std::string* error) {
  const auto* ip = reinterpret_cast<const unsigned char*>(in.data());
  const auto* const ip_end = ip + in.size();
  const auto* const ip_begin = ip;
  size_t op = 0;
  auto fail = [&](const char* what) {
    if (error) {
      *error = "LZF ";
      *error += what;
      *error += " at compressed byte ";
      *error += std::to_string(ip - ip_begin);
    }
    return false;
  };
  while (ip < ip_end) {
    unsigned ctrl = *ip++;
    if (ctrl < 32) {  // literal run of ctrl+1 bytes
      size_t len = ctrl + 1;
      if (static_cast<size_t>(ip_end - ip) < len) return fail("literal run past end of input");
      if (expected_len - op < len) return fail("output longer than announced");
      std::memcpy(out + op, ip, len);
      ip += len;
      op += len;
    } else {  // back-reference
      size_t len = ctrl >> 5;
      if (ip >= ip_end) return fail("truncated back-reference");
      if (len == 7) {
        len += *ip++;
        if (ip >= ip_end) return fail("truncated back-reference");
      }
      size_t dist = ((ctrl & 0x1f) << 8) + *ip++ + 1;
      len += 2;
      if (dist > op) return fail("back-reference before start of output");
      if (expected_len - op < len) return fail("output longer than announced");
      char* dst = out + op;
      const char* src = dst - dist;
      if (dist >= len) {
        std::memcpy(dst, src, len);
      } else {
        for (size_t i = 0; i < len; ++i) dst[i] = src[i];  // overlapping copy is the format's RLE
      }
      op += len;
    }
  }
  if (op != expected_len) return fail("output shorter than announced");
  return true;
}

bool LzfDecompress(std::string_view in, size_t expected_len, std::string* out, std::string* error) {
  out->resize(expected_len);
  return LzfDecompressTo(in, out->data(), expected_len, error);
}

bool LzfCompress(std::string_view in, size_t max_out, std::string* out) {
  // Greedy LZ77 over a 3-byte hash, emitting the liblzf stream format:
  // literal runs (ctrl 0..31 = run length - 1) and back-references
  // (len-2 in the top 3 bits, 7 = extended by one byte; 13-bit distance-1).
  constexpr size_t kHashBits = 14;
  constexpr size_t kMaxDist = 8192;
  constexpr size_t kMaxMatch = 264;
  const auto* ip = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  out->clear();
  out->reserve(max_out);
  std::vector<uint32_t> table(size_t{1} << kHashBits, UINT32_MAX);
  size_t lit_start = 0;
  auto flush_literals = [&](size_t end) {
    while (lit_start < end) {
      size_t run = std::min<size_t>(32, end - lit_start);
      out->push_back(static_cast<char>(run - 1));
      out->append(reinterpret_cast<const char*>(ip + lit_start), run);
      lit_start += run;
    }
    return out->size() < max_out;
  };
  size_t i = 0;
  while (i + 2 < n) {
    uint32_t h = (ip[i] << 16 | ip[i + 1] << 8 | ip[i + 2]) * 2654435761u >> (32 - kHashBits);
    uint32_t cand = table[h];
    table[h] = static_cast<uint32_t>(i);
    if (cand != UINT32_MAX && i - cand <= kMaxDist && std::memcmp(ip + cand, ip + i, 3) == 0) {
      size_t len = 3;
      while (len < kMaxMatch && i + len < n && ip[cand + len] == ip[i + len]) ++len;
      if (!flush_literals(i)) return false;
      size_t off = i - cand - 1;
      size_t l = len - 2;
      if (l < 7) {
        out->push_back(static_cast<char>((l << 5) | (off >> 8)));
      } else {
        out->push_back(static_cast<char>((7 << 5) | (off >> 8)));
        out->push_back(static_cast<char>(l - 7));
      }
      out->push_back(static_cast<char>(off & 0xFF));
      i += len;
      lit_start = i;
      if (out->size() >= max_out) return false;
    } else {
      ++i;
    }
  }
  if (!flush_literals(n)) return false;
  return out->size() < max_out;
}

}  // namespace darter::rdb
