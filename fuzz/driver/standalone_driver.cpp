// SPDX-License-Identifier: Apache-2.0
// main() for fuzz targets built without libFuzzer: usable with any target defining
// LLVMFuzzerTestOneInput (and optionally LLVMFuzzerInitialize).
//
//   <target> <corpus> <iterations> [seed]
//
// Runs every regular file of the corpus directory (or the single file `corpus`, to replay a
// crash), sorted by name, then `iterations` inputs made by stacking random mutations on corpus
// entries: bit flips, byte overwrites/inserts/deletes, duplicated ranges, structural ASCII bytes,
// splices of two entries, truncation and fresh random bytes. The generator is seeded with a fixed
// value (or `seed`), so a run is reproducible. No coverage feedback: some mutants are kept in the
// pool to reach deeper mutations. A crash is a crash (abort, signal, sanitizer report); on a fatal
// signal or sanitizer report the input is first written to `fuzz-crash-<target>` in the working
// directory. Otherwise prints one summary line "fuzz: N inputs, 0 crashes (...)" and exits 0.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)());

namespace {

using Bytes = std::vector<std::uint8_t>;
using namespace std::string_view_literals;
namespace fs = std::filesystem;

constexpr std::size_t kMaxInput = 64 * 1024;
constexpr std::size_t kMaxPool = 1024;
constexpr std::uint64_t kDefaultSeed = 0x5eed'c0ff'eeULL;

// ---- crash reporting (async-signal-safe: only write/open/close on precomputed data) ----

const std::uint8_t* g_current = nullptr;
std::size_t g_current_size = 0;
std::uint64_t g_current_index = 0;
char g_crash_path[512] = "fuzz-crash";

void write_str(int fd, const char* s) {
  ssize_t ignored = ::write(fd, s, std::strlen(s));
  (void)ignored;
}

void write_u64(int fd, std::uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  *--p = '\0';
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  write_str(fd, p);
}

// Writes the current input to g_crash_path and says so on stderr.
void dump_current_input() {
  write_str(2, "fuzz: crash on input #");
  write_u64(2, g_current_index);
  write_str(2, " (");
  write_u64(2, g_current_size);
  write_str(2, " bytes)");
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    std::size_t done = 0;
    while (g_current && done < g_current_size) {
      const ssize_t n = ::write(fd, g_current + done, g_current_size - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    write_str(2, ", saved to ");
    write_str(2, g_crash_path);
  }
  write_str(2, "\n");
}

void on_fatal_signal(int sig) {
  dump_current_input();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

extern "C" void on_sanitizer_death() {
  dump_current_input();
}

// Signals already handled by someone else (a sanitizer runtime) are left alone; sanitizers get
// a death callback instead.
void install_crash_handlers(std::string_view target) {
  const std::string path = "fuzz-crash-" + std::string(target);
  std::snprintf(g_crash_path, sizeof g_crash_path, "%s", path.c_str());
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = static_cast<int>(SA_RESETHAND | SA_NODEFER);
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL) {
      sigaction(sig, &sa, nullptr);
    }
  }
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(on_sanitizer_death);
}

// Runs one input from an exactly-sized heap copy, so an over-read is visible to sanitizers.
void run_one(const Bytes& input, std::uint64_t index) {
  const std::size_t n = input.size();
  std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[n == 0 ? 1 : n]);
  if (n != 0) std::memcpy(copy.get(), input.data(), n);
  g_current = copy.get();
  g_current_size = n;
  g_current_index = index;
  LLVMFuzzerTestOneInput(copy.get(), n);
  g_current = nullptr;
}

// ---- deterministic randomness (own generator: identical streams on every platform) ----

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
  bool chance(unsigned one_in) { return below(one_in) == 0; }
  std::uint8_t byte() { return static_cast<std::uint8_t>(next()); }

 private:
  std::uint64_t state_;
};

// Bytes that tend to matter to text and binary parsers alike (`sv`: "\0" must keep its length).
// clang-format off
constexpr std::string_view kInteresting[] = {
    "\n"sv, "\r"sv, "\r\n"sv, "\0"sv, ":"sv, " "sv, "\t"sv, "\""sv, "\\"sv, "{"sv, "}"sv, "["sv,
    "]"sv, ","sv, "="sv, "/"sv, "\xff"sv, "\x7f"sv, "\x80"sv, "0"sv, "-1"sv, "4294967296"sv,
    "\xC3\xA9"sv, "\xEF\xBB\xBF"sv, "\xF0\x9F\x98\x80"sv};
// clang-format on

std::size_t small_len(Rng& rng) {
  return 1 + rng.below(rng.chance(4) ? 64 : 8);
}

void mutate(Bytes& in, const std::vector<Bytes>& pool, Rng& rng) {
  switch (rng.below(11)) {
    case 0:  // flip one bit
      if (!in.empty()) in[rng.below(in.size())] ^= static_cast<std::uint8_t>(1u << rng.below(8));
      break;
    case 1:  // overwrite a byte
      if (!in.empty()) in[rng.below(in.size())] = rng.byte();
      break;
    case 2: {  // insert random bytes
      const std::size_t at = rng.below(in.size() + 1), n = small_len(rng);
      Bytes ins(n);
      for (auto& b : ins) b = rng.byte();
      in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
      break;
    }
    case 3: {  // delete a range
      if (in.empty()) break;
      const std::size_t at = rng.below(in.size());
      const std::size_t n = std::min(small_len(rng), in.size() - at);
      in.erase(in.begin() + static_cast<std::ptrdiff_t>(at),
               in.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 4: {  // duplicate a range in place
      if (in.empty()) break;
      const std::size_t from = rng.below(in.size());
      const std::size_t n = std::min(small_len(rng), in.size() - from);
      const Bytes piece(in.begin() + static_cast<std::ptrdiff_t>(from),
                        in.begin() + static_cast<std::ptrdiff_t>(from + n));
      const std::size_t at = rng.below(in.size() + 1);
      in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), piece.begin(), piece.end());
      break;
    }
    case 5:
    case 6: {  // insert or overwrite with an interesting token
      const std::string_view tok = kInteresting[rng.below(std::size(kInteresting))];
      const std::size_t at = rng.below(in.size() + 1);
      if (rng.chance(2) || at + tok.size() > in.size()) {
        in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), tok.begin(), tok.end());
      } else {
        std::copy(tok.begin(), tok.end(), in.begin() + static_cast<std::ptrdiff_t>(at));
      }
      break;
    }
    case 7: {  // splice: a prefix of this input, then a suffix of another pool entry
      const Bytes& other = pool[rng.below(pool.size())];
      in.resize(rng.below(in.size() + 1));
      const std::size_t from = rng.below(other.size() + 1);
      in.insert(in.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
      break;
    }
    case 8: {  // insert a slice of another pool entry
      const Bytes& other = pool[rng.below(pool.size())];
      if (other.empty()) break;
      const std::size_t from = rng.below(other.size());
      const std::size_t n = std::min(rng.below(other.size()) + 1, other.size() - from);
      const std::size_t at = rng.below(in.size() + 1);
      in.insert(in.begin() + static_cast<std::ptrdiff_t>(at),
                other.begin() + static_cast<std::ptrdiff_t>(from),
                other.begin() + static_cast<std::ptrdiff_t>(from + n));
      break;
    }
    case 9:  // truncate
      in.resize(rng.below(in.size() + 1));
      break;
    default: {  // fresh random bytes
      in.resize(rng.below(rng.chance(8) ? 4096 : 128));
      for (auto& b : in) b = rng.byte();
      break;
    }
  }
  if (in.size() > kMaxInput) in.resize(kMaxInput);
}

bool read_file(const fs::path& p, Bytes& out) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s <corpus dir or file> <iterations> [seed]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) return usage(argv[0]);
  char* end = nullptr;
  const unsigned long long iterations = std::strtoull(argv[2], &end, 10);
  if (*argv[2] == '\0' || *end != '\0') return usage(argv[0]);
  std::uint64_t seed = kDefaultSeed;
  if (argc == 4) {
    seed = std::strtoull(argv[3], &end, 0);
    if (*argv[3] == '\0' || *end != '\0') return usage(argv[0]);
  }
  const fs::path corpus_path = argv[1];
  install_crash_handlers(fs::path(argv[0]).filename().string());
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_regular_file(corpus_path, ec)) {
    files.push_back(corpus_path);
  } else if (fs::is_directory(corpus_path, ec)) {
    for (const auto& entry : fs::directory_iterator(corpus_path, ec)) {
      if (entry.is_regular_file(ec)) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    std::fprintf(stderr, "fuzz: warning: no corpus at %s; starting from the empty input\n",
                 corpus_path.c_str());
  }

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t executed = 0;
  std::vector<Bytes> pool;
  for (const auto& f : files) {
    Bytes b;
    if (!read_file(f, b)) {
      std::fprintf(stderr, "fuzz: cannot read %s\n", f.c_str());
      return 2;
    }
    run_one(b, executed++);
    pool.push_back(std::move(b));
  }
  const std::size_t seeds = pool.size();
  run_one(Bytes{}, executed++);  // the empty input is always worth a try
  if (pool.empty()) pool.emplace_back();

  Rng rng(seed);
  for (unsigned long long i = 0; i < iterations; ++i) {
    Bytes in = pool[rng.below(pool.size())];
    const std::size_t stacked = 1 + rng.below(rng.chance(4) ? 16 : 4);
    for (std::size_t m = 0; m < stacked; ++m) mutate(in, pool, rng);
    run_one(in, executed++);
    if (rng.chance(16)) {  // keep some mutants so later mutations build on them
      if (pool.size() < kMaxPool) {
        pool.push_back(std::move(in));
      } else if (pool.size() > seeds) {
        pool[seeds + rng.below(pool.size() - seeds)] = std::move(in);
      }
    }
  }

  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::printf(
      "fuzz: %llu inputs, 0 crashes (%zu corpus files, %llu mutations, seed %llu, %lld ms)\n",
      static_cast<unsigned long long>(executed), seeds, iterations,
      static_cast<unsigned long long>(seed), static_cast<long long>(ms));
  return 0;
}
