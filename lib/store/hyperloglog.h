// HyperLogLog in Redis's exact byte representation, so that an HLL moved between Redis
// and Darter (GET/SET, DUMP/RESTORE, RDB, replication) keeps its bytes and its count.
//
// Layout (all of it is the string value of the key):
//   [0, 4)    "HYLL"
//   4         encoding: 0 dense, 1 sparse
//   [5, 8)    unused, zero
//   [8, 16)   cached cardinality, little endian; bit 7 of byte 15 set = cache invalid
//   [16, ...) registers
// Dense: 16384 registers of 6 bits, register i at bit 6*i of the byte array, low bits
// first (a register may straddle two bytes). 12304 bytes in all.
// Sparse: run-length opcodes over the 16384 registers, in order:
//   00xxxxxx            ZERO:  xxxxxx+1 (1..64) registers are 0
//   01xxxxxx yyyyyyyy   XZERO: (xxxxxx<<8|yyyyyyyy)+1 (1..16384) registers are 0
//   1vvvvvxx            VAL:   xx+1 (1..4) registers hold vvvvv+1 (1..32)
// A sparse HLL turns dense when a register needs a value above 32 or when its string
// would grow past hll-sparse-max-bytes. Writers produce the same opcode sequence Redis
// does (same splits, same merges of equal neighbours), which the byte-for-byte
// differential tests check.
//
// Element hashing: MurmurHash64A with seed 0xadc83b19; the low 14 bits pick the
// register, the position of the lowest set bit of the remaining 50 (capped at 51) is
// the candidate value. Estimation: Otmar Ertl's "improved raw estimator" over the
// register histogram (arXiv:1702.01284), as Redis since 5.0.
//
// Functions are pure over their arguments; safe from any thread on distinct data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace darter::store::hll {

inline constexpr int kPrecision = 14;
inline constexpr int kQ = 64 - kPrecision;  // hash bits left for the run length
inline constexpr int kRegisters = 1 << kPrecision;
inline constexpr int kBits = 6;
inline constexpr int kRegisterMax = (1 << kBits) - 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kDenseSize = kHeaderSize + (kRegisters * kBits + 7) / 8;
inline constexpr size_t kSparseMaxBytes = 3000;  // Redis's hll-sparse-max-bytes default
inline constexpr uint8_t kDense = 0;
inline constexpr uint8_t kSparse = 1;
inline constexpr int kSparseValMax = 32;

uint64_t MurmurHash64A(const void* key, size_t len, uint64_t seed);

// Register index and candidate value for an element.
struct Pattern {
  int index;
  uint8_t count;
};
Pattern PatternOf(std::string_view element);

// Redis's isHLLObjectOrReply test (apart from the type check): magic, known encoding,
// exact size when dense.
bool LooksLikeHll(std::string_view s);

// An empty sparse HLL (one XZERO opcode covering every register), cache valid and 0.
std::string Empty();

inline uint8_t EncodingOf(std::string_view s) { return static_cast<uint8_t>(s[4]); }
inline bool CacheValid(std::string_view s) { return (static_cast<uint8_t>(s[15]) & 0x80) == 0; }
uint64_t CachedCardinality(std::string_view s);
// REQUIRES: `hdr` points at a header of at least 16 bytes.
void StoreCachedCardinality(char* hdr, uint64_t card);
inline void InvalidateCache(char* hdr) { hdr[15] = static_cast<char>(static_cast<uint8_t>(hdr[15]) | 0x80); }

// Dense registers, at `regs` (= string + kHeaderSize).
uint8_t DenseGet(const uint8_t* regs, int index);
void DenseSetRegister(uint8_t* regs, int index, uint8_t value);
// Sets register `index` to `count` when that is larger. Returns 1 if it changed.
int DenseSet(uint8_t* regs, int index, uint8_t count);

// Sparse register update with Redis's exact opcode rewriting. Returns 1 when the HLL
// changed (possibly promoting it to dense), 0 when not, -1 when it is corrupt.
// REQUIRES: `hll` is a sparse HLL.
int SparseSet(std::string* hll, int index, uint8_t count, size_t sparse_max_bytes = kSparseMaxBytes);

// Converts a sparse HLL to dense in place (no-op when dense). False when corrupt; the
// string is then unchanged.
bool SparseToDense(std::string* hll);

// PFADD of one element to an HLL of either encoding: 1 changed, 0 not, -1 corrupt.
// Does not invalidate the cached cardinality (the caller does, once, as Redis).
int Add(std::string* hll, std::string_view element, size_t sparse_max_bytes = kSparseMaxBytes);
// The same on a dense HLL's registers, in place.
inline int DenseAdd(uint8_t* regs, std::string_view element) {
  Pattern p = PatternOf(element);
  return DenseSet(regs, p.index, p.count);
}

// max[i] = MAX(max[i], register i of `hll`) over kRegisters raw 8-bit registers.
// False when `hll` is corrupt.
bool MergeInto(uint8_t* max, std::string_view hll);

// Cardinality estimate of a dense or sparse HLL, ignoring the cache. *invalid is set
// when a sparse HLL does not cover exactly kRegisters registers.
uint64_t Count(std::string_view hll, bool* invalid);
// The same over kRegisters raw 8-bit registers (the PFCOUNT-of-several-keys case).
uint64_t CountRaw(const uint8_t* registers);

// Writes raw registers into `hll` (PFMERGE's destination): converts it to dense first
// when `to_dense`, then raises each non-zero register. Returns false when the
// destination is corrupt.
bool WriteRegisters(std::string* hll, const uint8_t* max, bool to_dense, size_t sparse_max_bytes = kSparseMaxBytes);

// PFDEBUG DECODE: the opcodes of a sparse HLL as Redis prints them ("z:<len>" ZERO,
// "Z:<len>" XZERO, "v:<value>,<len>" VAL, space separated). A cut XZERO reads its
// missing second byte as 0, as Redis does (it reads the string's terminator).
// REQUIRES: `hll` is a sparse HLL.
std::string DecodeSparse(std::string_view hll);

// PFSELFTEST: dense register packing round trips for random values, then a sparse and
// a dense HLL fed the same random elements must agree on the count while both exist,
// and the estimate must stay within six standard errors. "" on success, else Redis's
// "TESTFAILED ..." error line. Takes a few tenths of a second; allocates O(kDenseSize).
std::string SelfTest();

}  // namespace darter::store::hll
