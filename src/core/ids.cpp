// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/ids.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <random>

namespace cppflue {
namespace {
// Incremented in the child of every fork: a forked child must not go on with its parent's
// sequence, or both would make the same ids (and the same run-owner nonces).
std::atomic<std::uint64_t> g_forks{0};

std::uint64_t fresh_seed() {
  return std::random_device{}() ^
         static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::mt19937_64& rng() {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { g_forks.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  thread_local std::mt19937_64 gen{fresh_seed()};
  thread_local std::uint64_t seeded_at = g_forks.load(std::memory_order_relaxed);
  if (auto now = g_forks.load(std::memory_order_relaxed); now != seeded_at) {
    gen.seed(fresh_seed());
    seeded_at = now;
  }
  return gen;
}
}  // namespace

std::uint64_t random_u64() {
  return rng()();
}

namespace {
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
}  // namespace

std::string new_ulid() {
  auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  std::string out(26, '0');
  for (int i = 9; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kCrockford[ms & 31];
    ms >>= 5;
  }
  auto& g = rng();
  std::uint64_t a = g(), b = g();
  for (int i = 10; i < 26; ++i) {
    std::uint64_t& src = i < 18 ? a : b;
    out[static_cast<std::size_t>(i)] = kCrockford[src & 31];
    src >>= 5;
  }
  return out;
}

std::string new_hex_id(std::string_view prefix, int hex_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  auto& g = rng();
  std::uint64_t bits = 0;
  for (int i = 0; i < hex_chars; ++i) {
    if (i % 16 == 0) bits = g();
    out.push_back(kHex[bits & 15]);
    bits >>= 4;
  }
  return out;
}

}  // namespace cppflue
