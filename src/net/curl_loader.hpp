// SPDX-License-Identifier: Apache-2.0
// net/curl_loader.hpp — libcurl, opened at run time (private to src/net/, not installed).
//
// The binary does not link libcurl: the loader mapping it and the ~30 libraries it needs
// (GnuTLS, Kerberos, LDAP, libssh2, librtmp, ...) cost about 4 ms of every start, although most
// commands never send an HTTP request. The first request opens it with dlopen instead.
// <curl/curl.h> still gives the types, the constants and, through decltype, the exact type of
// every function. `cppflue build` ships the library in bundles and images itself, since it is
// no longer in the binary's DT_NEEDED (src/cli/deploy_system.cpp).
#pragma once

#include <curl/curl.h>

#include "cppflue/core/error.hpp"

namespace cppflue::net {

// The soname opened, the one the binary used to link.
inline constexpr const char* kCurlLibrary = "libcurl.so.4";

// The libcurl functions src/net/ calls, each with the type curl.h declares: calling the
// variadic setopt/getinfo through a pointer of any other type would be undefined.
struct CurlApi {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_multi_init) multi_init = nullptr;
  decltype(&::curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&::curl_multi_setopt) multi_setopt = nullptr;
  decltype(&::curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&::curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&::curl_multi_socket_action) multi_socket_action = nullptr;
  decltype(&::curl_multi_info_read) multi_info_read = nullptr;
  decltype(&::curl_multi_strerror) multi_strerror = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
};

// Opens libcurl and runs curl_global_init, once per process (later calls return the first
// outcome). When the library cannot be opened the error (config_error) names it, gives the
// loader's reason and the Debian package that provides it.
Result<void> load_curl();

// The loaded functions; only once load_curl() has succeeded.
const CurlApi& curl();

}  // namespace cppflue::net
