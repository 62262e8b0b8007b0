// SPDX-License-Identifier: Apache-2.0
// libcurl opened with dlopen at the first HTTP request (see net/curl_loader.hpp for why).
#include "net/curl_loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <openssl/crypto.h>

#include <mutex>
#include <string>
#include <type_traits>

namespace cppflue::net {

namespace {

struct Loader {
  std::once_flag once;
  Result<void> outcome;
  CurlApi api;
};

Loader& loader() {
  static Loader l;
  return l;
}

CurlApi& table() {
  return loader().api;
}

std::string last_dl_error() {
  const char* e = ::dlerror();
  return e != nullptr ? e : "unknown error";
}

// Fills `api` from `lib`; the name of the first symbol missing, or nullptr.
const char* bind_all(void* lib, CurlApi& api) {
  const char* missing = nullptr;
  auto bind = [&](const char* name, auto& slot) {
    if (missing != nullptr) return;
    void* sym = ::dlsym(lib, name);
    if (sym == nullptr) {
      missing = name;
      return;
    }
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(sym);
  };
  bind("curl_global_init", api.global_init);
  bind("curl_easy_init", api.easy_init);
  bind("curl_easy_cleanup", api.easy_cleanup);
  bind("curl_easy_setopt", api.easy_setopt);
  bind("curl_easy_getinfo", api.easy_getinfo);
  bind("curl_easy_strerror", api.easy_strerror);
  bind("curl_multi_init", api.multi_init);
  bind("curl_multi_cleanup", api.multi_cleanup);
  bind("curl_multi_setopt", api.multi_setopt);
  bind("curl_multi_add_handle", api.multi_add_handle);
  bind("curl_multi_remove_handle", api.multi_remove_handle);
  bind("curl_multi_socket_action", api.multi_socket_action);
  bind("curl_multi_info_read", api.multi_info_read);
  bind("curl_multi_strerror", api.multi_strerror);
  bind("curl_slist_append", api.slist_append);
  bind("curl_slist_free_all", api.slist_free_all);
  return missing;
}

Result<void> open_curl(CurlApi& api) {
  // RTLD_LAZY, as when the binary linked libcurl: RTLD_NOW would bind every function of its
  // ~30 libraries up front (GnuTLS, Kerberos, LDAP, ...), ~1 ms more on the first request;
  // the functions used here are checked by dlsym below. RTLD_LOCAL: curl's dependencies stay
  // out of the global scope of later dlopens.
  void* lib = ::dlopen(kCurlLibrary, RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) {
    return fail(ErrorType::config_error,
                fmt::format("cannot load {} ({}): HTTP requests need libcurl (Debian: apt-get "
                            "install libcurl4)",
                            kCurlLibrary, last_dl_error()));
  }
  if (const char* missing = bind_all(lib, api); missing != nullptr) {
    std::string why = last_dl_error();
    ::dlclose(lib);
    api = CurlApi{};
    return fail(ErrorType::config_error,
                fmt::format("{} is not a usable libcurl ({} is missing: {}): reinstall it "
                            "(Debian: apt-get install --reinstall libcurl4)",
                            kCurlLibrary, missing, why));
  }
  // Stays open for the life of the process: handles and callbacks may outlive any client.
  if (CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return fail(ErrorType::internal,
                fmt::format("curl_global_init failed: {}", api.easy_strerror(rc)));
  }
  // OpenSSL's initialisation (under curl_global_init) leaves per-thread state (its error queue)
  // on this thread, a runtime thread that may end long before the process; OpenSSL does not
  // free it then. Free it now: later use on this thread makes it again as needed. libcrypto is
  // libcurl's dependency (the binary does not link it), so the function is looked up there.
  using ThreadStop = decltype(&::OPENSSL_thread_stop);
  if (void* stop = ::dlsym(lib, "OPENSSL_thread_stop"); stop != nullptr) {
    reinterpret_cast<ThreadStop>(stop)();
  }
  return {};
}

}  // namespace

Result<void> load_curl() {
  Loader& l = loader();
  std::call_once(l.once, [&l] { l.outcome = open_curl(l.api); });
  return l.outcome;
}

const CurlApi& curl() {
  return table();
}

}  // namespace cppflue::net
