// SPDX-License-Identifier: Apache-2.0
// HMAC-SHA256 from libcrypto, opened with dlopen at the first signature to check.
//
// Linking libcrypto cost every process ~1.4 MiB of resident memory (its relocations and its
// initialisation) for a function only signed webhooks call. The first call opens it instead;
// a server without signed webhooks never does. HTTP requests load it anyway, through libcurl.
#include "cppflue/net/crypto.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

namespace cppflue::net {

namespace {

// The soname opened, the one the binary used to link.
constexpr const char* kCryptoLibrary = "libcrypto.so.3";

// The two functions used, with the types openssl/hmac.h and openssl/evp.h declare.
struct CryptoApi {
  decltype(&::HMAC) hmac = nullptr;
  decltype(&::EVP_sha256) sha256 = nullptr;
  std::string problem;  // why they are missing, when they are
};

CryptoApi open_crypto() {
  CryptoApi api;
  // Stays open for the life of the process; RTLD_LOCAL keeps it out of later lookups.
  void* lib = ::dlopen(kCryptoLibrary, RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    api.problem = fmt::format(
        "cannot load {} ({}): signatures need libcrypto (Debian: apt-get "
        "install libssl3)",
        kCryptoLibrary, why != nullptr ? why : "unknown error");
    return api;
  }
  void* hmac = ::dlsym(lib, "HMAC");
  void* sha256 = ::dlsym(lib, "EVP_sha256");
  if (hmac == nullptr || sha256 == nullptr) {
    api.problem = fmt::format(
        "{} is not a usable libcrypto ({} is missing): reinstall it "
        "(Debian: apt-get install --reinstall libssl3)",
        kCryptoLibrary, hmac == nullptr ? "HMAC" : "EVP_sha256");
    ::dlclose(lib);
    return api;
  }
  api.hmac = reinterpret_cast<decltype(&::HMAC)>(hmac);
  api.sha256 = reinterpret_cast<decltype(&::EVP_sha256)>(sha256);
  return api;
}

const CryptoApi& crypto() {
  static const CryptoApi api = open_crypto();  // thread-safe, once per process
  return api;
}

}  // namespace

std::string crypto_problem() {
  return crypto().problem;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  const CryptoApi& api = crypto();
  if (api.hmac == nullptr) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // A zero-length key is valid for HMAC; OpenSSL wants a non-null pointer for it.
  static const unsigned char kEmpty = 0;
  const void* key_data = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (api.hmac(api.sha256(), key_data, static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
               &length) == nullptr) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Every byte is read and folded in, whatever the earlier ones were; volatile keeps the
  // compiler from turning the loop into an early exit (what CRYPTO_memcmp also guards against).
  const volatile unsigned char* x = reinterpret_cast<const volatile unsigned char*>(a.data());
  const volatile unsigned char* y = reinterpret_cast<const volatile unsigned char*>(b.data());
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = static_cast<unsigned char>(diff | (x[i] ^ y[i]));
  return diff == 0;
}

}  // namespace cppflue::net
