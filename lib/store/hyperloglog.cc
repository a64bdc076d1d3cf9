// HyperLogLog representation and estimator; see hyperloglog.h for the layout.
#include "store/hyperloglog.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace darter::store::hll {
namespace {

// Sparse opcode bytes.
inline bool IsZero(uint8_t b) { return (b & 0xC0) == 0; }
inline bool IsXZero(uint8_t b) { return (b & 0xC0) == 0x40; }
inline bool IsVal(uint8_t b) { return (b & 0x80) != 0; }
inline int ZeroLen(uint8_t b) { return (b & 0x3F) + 1; }
inline int XZeroLen(uint8_t b0, uint8_t b1) { return (((b0 & 0x3F) << 8) | b1) + 1; }
inline int ValValue(uint8_t b) { return ((b >> 2) & 0x1F) + 1; }
inline int ValLen(uint8_t b) { return (b & 0x3) + 1; }
inline uint8_t ZeroOp(int len) { return static_cast<uint8_t>(len - 1); }
inline uint8_t ValOp(int value, int len) { return static_cast<uint8_t>(0x80 | ((value - 1) << 2) | (len - 1)); }
inline void XZeroOp(uint8_t* out, int len) {
  out[0] = static_cast<uint8_t>(0x40 | ((len - 1) >> 8));
  out[1] = static_cast<uint8_t>((len - 1) & 0xFF);
}

constexpr int kZeroMaxLen = 64;
constexpr int kXZeroMaxLen = 16384;
constexpr int kValMaxLen = 4;

// Byte `i` of a sparse string, reading 0 past the end: Redis reads its sds terminator
// there when an XZERO opcode is cut short, and we must decode such input the same way.
inline uint8_t ByteAt(std::string_view s, size_t i) { return i < s.size() ? static_cast<uint8_t>(s[i]) : 0; }

inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Ertl's sigma and tau series, to convergence in double precision.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0, z = x, prev;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (prev != z);
  return z;
}

double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x, prev;
  do {
    x = std::sqrt(x);
    prev = z;
    y *= 0.5;
    z -= std::pow(1.0 - x, 2) * y;
  } while (prev != z);
  return z / 3.0;
}

uint64_t EstimateFromHistogram(const int* histo) {
  constexpr double m = kRegisters;
  constexpr double kAlphaInf = 0.721347520444481703680;  // 1 / (2 ln 2)
  double z = m * Tau((m - histo[kQ + 1]) / m);
  for (int j = kQ; j >= 1; --j) {
    z += histo[j];
    z *= 0.5;
  }
  z += m * Sigma(histo[0] / m);
  return static_cast<uint64_t>(std::llround(kAlphaInf * m * m / z));
}

void DenseHistogram(const uint8_t* regs, int* histo) {
  for (int i = 0; i < kRegisters; ++i) histo[DenseGet(regs, i)]++;
}

// Walks a sparse body, calling run(first, len, value) for every opcode (value 0 for
// ZERO/XZERO). Returns false when the opcodes do not cover exactly kRegisters
// registers; an opcode that would run past the last register stops the walk (the
// behaviour of Redis with the CVE-2025-32023 fix, which Debian's 7.0.15 carries).
template <typename Run>
bool WalkSparse(std::string_view s, Run&& run) {
  long idx = 0;
  size_t p = kHeaderSize, end = s.size();
  while (p < end) {
    uint8_t b = ByteAt(s, p);
    int len, value = 0;
    if (IsZero(b)) {
      len = ZeroLen(b);
      p++;
    } else if (IsXZero(b)) {
      len = XZeroLen(b, ByteAt(s, p + 1));
      p += 2;
    } else {
      len = ValLen(b);
      value = ValValue(b);
      p++;
    }
    if (idx + len > kRegisters) return false;
    run(static_cast<int>(idx), len, value);
    idx += len;
  }
  return idx == kRegisters;
}

bool SparseHistogram(std::string_view s, int* histo) {
  return WalkSparse(s, [histo](int, int len, int value) { histo[value] += len; });
}

}  // namespace

uint64_t MurmurHash64A(const void* key, size_t len, uint64_t seed) {
  // Austin Appleby's MurmurHash2, 64-bit version for 64-bit platforms.
  constexpr uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  uint64_t h = seed ^ (static_cast<uint64_t>(len) * m);
  const unsigned char* data = static_cast<const unsigned char*>(key);
  const unsigned char* end = data + (len & ~size_t{7});
  for (; data != end; data += 8) {
    uint64_t k = Load64(data);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  size_t tail = len & 7;
  if (tail) {
    for (size_t i = tail; i-- > 0;) h ^= static_cast<uint64_t>(data[i]) << (8 * i);
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

Pattern PatternOf(std::string_view element) {
  uint64_t hash = MurmurHash64A(element.data(), element.size(), 0xadc83b19ULL);
  int index = static_cast<int>(hash & (kRegisters - 1));
  hash >>= kPrecision;
  hash |= uint64_t{1} << kQ;  // bounds the run at kQ + 1
  return {index, static_cast<uint8_t>(std::countr_zero(hash) + 1)};
}

bool LooksLikeHll(std::string_view s) {
  if (s.size() < kHeaderSize) return false;
  if (s.substr(0, 4) != "HYLL") return false;
  uint8_t enc = EncodingOf(s);
  if (enc > kSparse) return false;
  if (enc == kDense && s.size() != kDenseSize) return false;
  return true;
}

std::string Empty() {
  std::string s(kHeaderSize + 2, '\0');
  std::memcpy(s.data(), "HYLL", 4);
  s[4] = static_cast<char>(kSparse);
  XZeroOp(reinterpret_cast<uint8_t*>(s.data() + kHeaderSize), kRegisters);
  return s;
}

uint64_t CachedCardinality(std::string_view s) {
  uint64_t card = 0;
  for (int i = 7; i >= 0; --i) card = (card << 8) | static_cast<uint8_t>(s[8 + i]);
  return card;
}

void StoreCachedCardinality(char* hdr, uint64_t card) {
  for (int i = 0; i < 8; ++i) hdr[8 + i] = static_cast<char>((card >> (8 * i)) & 0xFF);
}

uint8_t DenseGet(const uint8_t* regs, int index) {
  size_t bit = static_cast<size_t>(index) * kBits;
  size_t byte = bit / 8;
  unsigned fb = bit & 7;
  unsigned v = regs[byte] >> fb;
  // Only registers that straddle a byte boundary touch the next byte; the last
  // register never does, so this never reads past the register array.
  if (fb > 8 - kBits) v |= static_cast<unsigned>(regs[byte + 1]) << (8 - fb);
  return static_cast<uint8_t>(v & kRegisterMax);
}

void DenseSetRegister(uint8_t* regs, int index, uint8_t value) {
  size_t bit = static_cast<size_t>(index) * kBits;
  size_t byte = bit / 8;
  unsigned fb = bit & 7;
  unsigned v = value & kRegisterMax;
  regs[byte] = static_cast<uint8_t>((regs[byte] & ~(kRegisterMax << fb)) | (v << fb));
  if (fb > 8 - kBits) {
    unsigned fb8 = 8 - fb;
    regs[byte + 1] = static_cast<uint8_t>((regs[byte + 1] & ~(kRegisterMax >> fb8)) | (v >> fb8));
  }
}

int DenseSet(uint8_t* regs, int index, uint8_t count) {
  if (count <= DenseGet(regs, index)) return 0;
  DenseSetRegister(regs, index, count);
  return 1;
}

bool SparseToDense(std::string* hll) {
  std::string_view s = *hll;
  if (EncodingOf(s) == kDense) return true;
  std::string dense(kDenseSize, '\0');
  std::memcpy(dense.data(), s.data(), kHeaderSize);  // magic and cached cardinality
  dense[4] = static_cast<char>(kDense);
  uint8_t* regs = reinterpret_cast<uint8_t*>(dense.data() + kHeaderSize);
  bool ok = WalkSparse(s, [regs](int first, int len, int value) {
    if (value)
      for (int i = 0; i < len; ++i) DenseSetRegister(regs, first + i, static_cast<uint8_t>(value));
  });
  if (!ok) return false;
  *hll = std::move(dense);
  return true;
}

int SparseSet(std::string* hll, int index, uint8_t count, size_t sparse_max_bytes) {
  if (count > kSparseValMax) goto promote;
  {
    // Find the opcode that covers register `index`: it starts at byte `p` and covers
    // registers [first, first + span); `prev` is the opcode before it, if any.
    std::string_view s = *hll;
    size_t p = kHeaderSize, end = s.size();
    long first = 0, span = 0, prev = -1;
    size_t oplen = 1;
    while (p < end) {
      uint8_t b = ByteAt(s, p);
      oplen = 1;
      if (IsZero(b)) {
        span = ZeroLen(b);
      } else if (IsVal(b)) {
        span = ValLen(b);
      } else {
        span = XZeroLen(b, ByteAt(s, p + 1));
        oplen = 2;
      }
      if (index <= first + span - 1) break;
      prev = static_cast<long>(p);
      p += oplen;
      first += span;
    }
    if (span == 0 || p >= end) return -1;

    uint8_t op = ByteAt(s, p);
    bool is_zero = IsZero(op), is_xzero = IsXZero(op), is_val = IsVal(op);
    long runlen = is_zero ? ZeroLen(op) : is_xzero ? XZeroLen(op, ByteAt(s, p + 1)) : ValLen(op);

    bool simple = false;
    if (is_val) {
      if (ValValue(op) >= count) return 0;
      simple = runlen == 1;  // a single register: rewrite its value in place
    }
    if (is_zero && runlen == 1) simple = true;
    if (simple) {
      (*hll)[p] = static_cast<char>(ValOp(count, 1));
    } else {
      // Split the opcode into up to three: the registers before `index`, `index`
      // itself, the registers after it.
      uint8_t seq[5];
      int n = 0;
      long last = first + span - 1;
      auto zeros = [&](long len) {
        if (len > kZeroMaxLen) {
          XZeroOp(seq + n, static_cast<int>(len));
          n += 2;
        } else {
          seq[n++] = ZeroOp(static_cast<int>(len));
        }
      };
      if (is_zero || is_xzero) {
        if (index != first) zeros(index - first);
        seq[n++] = ValOp(count, 1);
        if (index != last) zeros(last - index);
      } else {
        int cur = ValValue(op);
        if (index != first) seq[n++] = ValOp(cur, static_cast<int>(index - first));
        seq[n++] = ValOp(count, 1);
        if (index != last) seq[n++] = ValOp(cur, static_cast<int>(last - index));
      }
      size_t oldlen = is_xzero ? 2 : 1;
      if (static_cast<size_t>(n) > oldlen && hll->size() + (n - oldlen) > sparse_max_bytes) goto promote;
      // The new size is computed from the opcode's nominal length even when the
      // string ends inside it (a cut XZERO): Redis does the same.
      size_t new_size = hll->size() + n - oldlen;
      hll->replace(p, oldlen, reinterpret_cast<const char*>(seq), n);
      hll->resize(new_size);
    }

    // Merge equal adjacent VAL opcodes, scanning up to 5 opcodes from `prev`. After a
    // merge the same position is examined again, to chain merges to the right.
    size_t q = prev >= 0 ? static_cast<size_t>(prev) : kHeaderSize;
    int scanlen = 5;
    while (q < hll->size() && scanlen--) {
      uint8_t b = static_cast<uint8_t>((*hll)[q]);
      if (IsXZero(b)) {
        q += 2;
        continue;
      }
      if (IsZero(b)) {
        q++;
        continue;
      }
      if (q + 1 < hll->size()) {
        uint8_t nb = static_cast<uint8_t>((*hll)[q + 1]);
        if (IsVal(nb) && ValValue(b) == ValValue(nb)) {
          int len = ValLen(b) + ValLen(nb);
          if (len <= kValMaxLen) {
            (*hll)[q + 1] = static_cast<char>(ValOp(ValValue(b), len));
            hll->erase(q, 1);
            continue;
          }
        }
      }
      q++;
    }
    InvalidateCache(hll->data());
    return 1;
  }

promote:
  if (!SparseToDense(hll)) return -1;
  // A promotion always happens because a register must grow, so this changes it.
  DenseSet(reinterpret_cast<uint8_t*>(hll->data() + kHeaderSize), index, count);
  return 1;
}

int Add(std::string* hll, std::string_view element, size_t sparse_max_bytes) {
  Pattern p = PatternOf(element);
  switch (EncodingOf(*hll)) {
    case kDense:
      return DenseSet(reinterpret_cast<uint8_t*>(hll->data() + kHeaderSize), p.index, p.count);
    case kSparse:
      return SparseSet(hll, p.index, p.count, sparse_max_bytes);
    default:
      return -1;
  }
}

bool MergeInto(uint8_t* max, std::string_view s) {
  if (EncodingOf(s) == kDense) {
    const uint8_t* regs = reinterpret_cast<const uint8_t*>(s.data() + kHeaderSize);
    for (int i = 0; i < kRegisters; ++i) {
      uint8_t v = DenseGet(regs, i);
      if (v > max[i]) max[i] = v;
    }
    return true;
  }
  return WalkSparse(s, [max](int first, int len, int value) {
    for (int i = first; i < first + len; ++i)
      if (value > max[i]) max[i] = static_cast<uint8_t>(value);
  });
}

uint64_t Count(std::string_view s, bool* invalid) {
  int histo[64] = {};
  if (EncodingOf(s) == kDense) {
    DenseHistogram(reinterpret_cast<const uint8_t*>(s.data() + kHeaderSize), histo);
  } else if (!SparseHistogram(s, histo)) {
    if (invalid) *invalid = true;
    return 0;
  }
  return EstimateFromHistogram(histo);
}

uint64_t CountRaw(const uint8_t* registers) {
  int histo[64] = {};
  for (int i = 0; i < kRegisters; ++i) histo[registers[i] & 63]++;
  return EstimateFromHistogram(histo);
}

bool WriteRegisters(std::string* hll, const uint8_t* max, bool to_dense, size_t sparse_max_bytes) {
  if (to_dense && !SparseToDense(hll)) return false;
  for (int j = 0; j < kRegisters; ++j) {
    if (max[j] == 0) continue;
    if (EncodingOf(*hll) == kDense) {
      DenseSet(reinterpret_cast<uint8_t*>(hll->data() + kHeaderSize), j, max[j]);
    } else {
      SparseSet(hll, j, max[j], sparse_max_bytes);  // Redis ignores a failure here too
    }
  }
  InvalidateCache(hll->data());
  return true;
}

std::string DecodeSparse(std::string_view hll) {
  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(hll.data()) + kHeaderSize;
  const auto* end = reinterpret_cast<const uint8_t*>(hll.data()) + hll.size();
  while (p < end) {
    if ((*p & 0xC0) == 0x00) {  // ZERO: 00xxxxxx
      out += "z:" + std::to_string((*p & 0x3F) + 1) + " ";
      p += 1;
    } else if ((*p & 0xC0) == 0x40) {  // XZERO: 01xxxxxx yyyyyyyy
      unsigned low = p + 1 < end ? p[1] : 0;
      out += "Z:" + std::to_string((((*p & 0x3F) << 8) | low) + 1) + " ";
      p += 2;
    } else {  // VAL: 1vvvvvxx
      out += "v:" + std::to_string(((*p >> 2) & 0x1F) + 1) + "," + std::to_string((*p & 0x03) + 1) + " ";
      p += 1;
    }
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::string SelfTest() {
  std::mt19937_64 rng(std::random_device{}());
  // Dense packing: every register keeps the 6-bit value written to it, whatever its
  // neighbours hold (a register may straddle two bytes).
  std::vector<uint8_t> regs(kDenseSize - kHeaderSize + 1), expected(kRegisters);
  for (int round = 0; round < 100; ++round) {
    std::fill(regs.begin(), regs.end(), 0);
    for (int i = 0; i < kRegisters; ++i) {
      expected[i] = static_cast<uint8_t>(rng() & kRegisterMax);
      DenseSetRegister(regs.data(), i, expected[i]);
    }
    for (int i = 0; i < kRegisters; ++i)
      if (DenseGet(regs.data(), i) != expected[i]) return "TESTFAILED Register error at " + std::to_string(i);
  }
  // Estimates: the same elements into a sparse and a dense HLL.
  std::string sparse = Empty(), dense = Empty();
  if (!SparseToDense(&dense)) return "TESTFAILED cannot convert an empty HLL to dense";
  const double relerr = 1.04 / std::sqrt(static_cast<double>(kRegisters));
  uint64_t next_check = 1;
  for (uint64_t n = 1; n <= 100000; ++n) {
    uint64_t v = rng();
    std::string_view element(reinterpret_cast<const char*>(&v), sizeof v);
    if (Add(&sparse, element) < 0 || Add(&dense, element) < 0) return "TESTFAILED Add reports a corrupt HLL";
    if (n != next_check) continue;
    next_check = n < 100 ? n + 1 : n + n / 10;
    bool bad_sparse = false, bad_dense = false;
    uint64_t from_sparse = Count(sparse, &bad_sparse), from_dense = Count(dense, &bad_dense);
    if (bad_sparse || bad_dense) return "TESTFAILED corrupt HLL after " + std::to_string(n) + " elements";
    if (from_sparse != from_dense)
      return "TESTFAILED Sparse and dense HLL disagree: " + std::to_string(from_sparse) +
             " != " + std::to_string(from_dense);
    double abserr = std::fabs(static_cast<double>(from_dense) - static_cast<double>(n));
    double maxerr = std::max(1.0, std::ceil(relerr * 6 * static_cast<double>(n)));
    if (abserr > maxerr)
      return "TESTFAILED Too big error. card:" + std::to_string(n) + " abserr:" + std::to_string(abserr);
  }
  return "";
}

}  // namespace darter::store::hll
