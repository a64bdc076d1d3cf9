// Bit-level primitives of the bitmap commands (Redis's bitops.c semantics): fields of
// 1..64 bits at any bit offset, with bit 0 the most significant bit of byte 0 (SETBIT's
// numbering); overflow rules of BITFIELD; population count and first-bit search over
// bit ranges, a 64-bit word at a time.
//
// Pure functions over caller-owned bytes; safe from any thread on distinct data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace darter::store::bits {

enum class Overflow { kWrap, kSat, kFail };

// The `bits`-wide field at bit `offset` of `s`, bytes past the end reading as zero.
// REQUIRES: 1 <= bits <= 64.
uint64_t GetUnsigned(std::string_view s, uint64_t offset, unsigned bits);
int64_t GetSigned(std::string_view s, uint64_t offset, unsigned bits);
// REQUIRES: the string holds every byte of the field: (offset + bits - 1) / 8 < size.
void SetField(char* data, uint64_t offset, unsigned bits, uint64_t value);

// Whether value + incr leaves the range of a `bits`-wide unsigned (signed) field:
// 1 above, -1 below, 0 fits. When it does not fit, *limit receives the wrapped or
// saturated value per `ow` (untouched for kFail). Same results as Redis's
// checkUnsignedBitfieldOverflow / checkSignedBitfieldOverflow.
int CheckUnsignedOverflow(uint64_t value, int64_t incr, unsigned bits, Overflow ow, uint64_t* limit);
int CheckSignedOverflow(int64_t value, int64_t incr, unsigned bits, Overflow ow, int64_t* limit);

// Number of set bits in bits [first, last] of `s`. REQUIRES: first <= last < 8 * size.
uint64_t CountBits(std::string_view s, uint64_t first, uint64_t last);

// Position of the first bit equal to `bit` in [first, last], or -1.
// REQUIRES: first <= last < 8 * size.
int64_t FindBit(std::string_view s, uint64_t first, uint64_t last, int bit);

}  // namespace darter::store::bits
