// A main() for the libFuzzer targets that any compiler can build (CI uses g++, which has
// no libFuzzer): runs the target's LLVMFuzzerTestOneInput over its seed corpus, then over
// inputs mutated from the seeds by a deterministic PRNG, until a count or a time budget
// is reached. It finds less than coverage-guided fuzzing, but it runs every build (under
// ASan+UBSan in the sanitizer build) and catches regressions on the paths the seeds reach.
//
//   <target>_replay [--mutations N] [--seconds S] [--seed X] [--max-len L]
//                   [--from I] [--only I] [--crash-file F] CORPUS_DIR...
//
// Input i (0-based, after the seeds) depends only on (seed, i) and the corpus, so a
// failure is reproduced with --only i, and the failing input is written to --crash-file
// (default ./fuzz-replay-crash.bin) when the target aborts or a sanitizer reports.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, for the crash handlers (async-signal-safe access only).
const std::string* g_current = nullptr;
const char* g_crash_file = "fuzz-replay-crash.bin";
long long g_current_index = -1;

void DumpCurrent() {
  if (g_current == nullptr) return;
  int fd = open(g_crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t off = 0;
  while (off < g_current->size()) {
    ssize_t n = write(fd, g_current->data() + off, g_current->size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
  // "fuzz replay: failing input <index> written to <file>" (negative: seed number -1-i).
  char msg[512] = "fuzz replay: failing input ";
  size_t len = std::strlen(msg);
  char digits[24];
  size_t nd = 0;
  unsigned long long v = g_current_index < 0 ? 0ull - static_cast<unsigned long long>(g_current_index)
                                             : static_cast<unsigned long long>(g_current_index);
  do {
    digits[nd++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (g_current_index < 0) msg[len++] = '-';
  while (nd > 0) msg[len++] = digits[--nd];
  const char mid[] = " written to ";
  for (size_t i = 0; mid[i] != '\0'; ++i) msg[len++] = mid[i];
  for (size_t i = 0; g_crash_file[i] != '\0' && len < sizeof msg - 2; ++i) msg[len++] = g_crash_file[i];
  msg[len++] = '\n';
  ssize_t ignored = write(2, msg, len);
  (void)ignored;
}

void OnSignal(int sig) {
  DumpCurrent();
  signal(sig, SIG_DFL);
  raise(sig);
}

// splitmix64: small, fast, and the same on every platform.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
};

// Byte strings the parsers give meaning to: RESP markers, lengths at the limits,
// separators. Inserting them reaches deeper than random bytes alone.
const char* const kTokens[] = {
    "\r\n", "\r", "\n", "*", "$", "+", "-", ":", "_", ",", "#", "!", "=", "%", "~", ">", "(", "|",
    "0", "-1", "1", "2", "10", "11", "16384", "16385", "65536", "1048576", "1048577", "2147483647",
    "2147483648", "536870912", "9223372036854775807", "-9223372036854775808", "18446744073709551616",
    "\"", "'", "\\x", "\\", " ", "\t", "\x00", "\xff", "REDIS", "\xfe", "\xfa", "\xfb", "\xfc", "\xff\xff\xff\xff",
};

std::string Mutate(const std::vector<std::string>& seeds, uint64_t seed, uint64_t index, size_t max_len) {
  Rng rng{seed ^ (index * 0xd1342543de82ef95ull)};
  std::string s = seeds.empty() ? std::string() : seeds[rng.Below(seeds.size())];
  const size_t rounds = 1 + rng.Below(8);
  for (size_t r = 0; r < rounds; ++r) {
    switch (rng.Below(9)) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng.Below(s.size())] ^= static_cast<char>(1u << rng.Below(8));
        break;
      case 1:  // set a byte
        if (!s.empty()) s[rng.Below(s.size())] = static_cast<char>(rng.Next());
        break;
      case 2: {  // insert random bytes
        std::string bytes(1 + rng.Below(8), '\0');
        for (char& c : bytes) c = static_cast<char>(rng.Next());
        s.insert(rng.Below(s.size() + 1), bytes);
        break;
      }
      case 3:  // erase a range
        if (!s.empty()) {
          size_t at = rng.Below(s.size());
          s.erase(at, 1 + rng.Below(std::min<size_t>(s.size() - at, 64)));
        }
        break;
      case 4:  // duplicate a range
        if (!s.empty()) {
          size_t at = rng.Below(s.size());
          size_t len = 1 + rng.Below(std::min<size_t>(s.size() - at, 256));
          s.insert(rng.Below(s.size() + 1), s.substr(at, len));
        }
        break;
      case 5:  // insert a token
      case 6: {
        const char* t = kTokens[rng.Below(std::size(kTokens))];
        std::string tok = t[0] == '\0' ? std::string(1, '\0') : std::string(t);
        s.insert(rng.Below(s.size() + 1), tok);
        break;
      }
      case 7:  // splice with another seed
        if (!seeds.empty()) {
          const std::string& other = seeds[rng.Below(seeds.size())];
          size_t cut = rng.Below(s.size() + 1);
          size_t from = rng.Below(other.size() + 1);
          s = s.substr(0, cut) + other.substr(from);
        }
        break;
      case 8:  // truncate
        s.resize(rng.Below(s.size() + 1));
        break;
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

void Run(const std::string& input, long long index) {
  g_current = &input;
  g_current_index = index;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
}

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--mutations N] [--seconds S] [--seed X] [--max-len L] [--from I] [--only I] "
               "[--crash-file F] CORPUS_DIR...\n",
               argv0);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mutations = 20000;
  double seconds = 10;
  uint64_t seed = 0x5eed;
  size_t max_len = 8192;
  long long only = -1;
  uint64_t from = 0;  // first mutated input to run (skips the seeds when > 0)
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage(argv[0]);
      return argv[++i];
    };
    if (a == "--mutations") mutations = std::strtoull(value(), nullptr, 10);
    else if (a == "--seconds") seconds = std::strtod(value(), nullptr);
    else if (a == "--seed") seed = std::strtoull(value(), nullptr, 0);
    else if (a == "--max-len") max_len = std::strtoull(value(), nullptr, 10);
    else if (a == "--only") only = std::strtoll(value(), nullptr, 10);
    else if (a == "--from") from = std::strtoull(value(), nullptr, 10);
    else if (a == "--crash-file") g_crash_file = value();
    else if (a.starts_with("--")) Usage(argv[0]);
    else dirs.push_back(a);
  }
  if (dirs.empty()) Usage(argv[0]);

  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, OnSignal);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(DumpCurrent);
#endif

  // Seeds in a stable order (directory iteration order is not).
  std::vector<std::filesystem::path> files;
  for (const std::string& d : dirs) {
    for (const auto& e : std::filesystem::directory_iterator(d))
      if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> seeds;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  if (only >= 0) {
    std::string input = Mutate(seeds, seed, static_cast<uint64_t>(only), max_len);
    std::fprintf(stderr, "fuzz replay: running mutated input %lld (%zu bytes)\n", only, input.size());
    Run(input, only);
    return 0;
  }

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(seconds));
  if (from == 0) {
    for (size_t i = 0; i < seeds.size(); ++i) Run(seeds[i], -1 - static_cast<long long>(i));
  }
  uint64_t done = from;
  for (; done < mutations; ++done) {
    // The clock is read every 64 inputs; each input takes microseconds to milliseconds.
    if ((done & 63) == 0 && std::chrono::steady_clock::now() > deadline) break;
    std::string input = Mutate(seeds, seed, done, max_len);
    Run(input, static_cast<long long>(done));
  }
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz replay: %zu seeds and %llu of %llu mutated inputs (seed %#llx) in %.1f s, no failure\n",
              seeds.size(), static_cast<unsigned long long>(done), static_cast<unsigned long long>(mutations),
              static_cast<unsigned long long>(seed), took);
  return 0;
}
