// SPDX-License-Identifier: Apache-2.0
// Fuzz target for Workspace::to_relative, the purely lexical mapping of model paths into the
// workspace. The first input byte picks a prefix (none, "/", "/workspace/", the root's absolute
// path + "/", or "../"), the rest is the path. Invariants checked, any violation aborts:
//   - no crash, no sanitizer report;
//   - a mapped path is "." or a "/"-free-at-the-start sequence of non-empty components, none of
//     which is "." or "..", and contains no NUL;
//   - mapping is idempotent: to_relative(result) == result;
//   - a relative path maps the same way with "/workspace/" or "<root>/" in front of it;
//   - an error is always permission (rule path_escape) or invalid_input.
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace {

[[noreturn]] void violated(const char* what, std::string_view input) {
  std::fprintf(stderr, "workspace_path_fuzz: invariant violated: %s (input of %zu bytes)\n", what,
               input.size());
  std::abort();
}

#define WS_FUZZ_CHECK(cond, input)       \
  do {                                   \
    if (!(cond)) violated(#cond, input); \
  } while (0)

std::string g_dir;

void cleanup() {
  if (!g_dir.empty()) ::rmdir(g_dir.c_str());
}

const cppflue::Workspace& workspace() {
  static const cppflue::Workspace ws = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cppflue-wsfuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    g_dir = tmpl;
    std::atexit(cleanup);
    auto r = cppflue::Workspace::open(tmpl);
    if (!r) std::abort();
    return std::move(*r);
  }();
  return ws;
}

void check_mapped(const std::string& rel, std::string_view input) {
  WS_FUZZ_CHECK(!rel.empty(), input);
  WS_FUZZ_CHECK(rel.find('\0') == std::string::npos, input);
  if (rel == ".") return;
  WS_FUZZ_CHECK(rel.front() != '/', input);
  WS_FUZZ_CHECK(rel.back() != '/', input);
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string_view comp(rel.data() + start, end - start);
    WS_FUZZ_CHECK(!comp.empty(), input);
    WS_FUZZ_CHECK(comp != "..", input);
    WS_FUZZ_CHECK(comp != ".", input);
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& ws = workspace();
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string path;
  if (!raw.empty()) {
    switch (static_cast<unsigned char>(raw[0]) % 5) {
      case 1:
        path = "/";
        break;
      case 2:
        path = "/workspace/";
        break;
      case 3:
        path = ws.root().string() + "/";
        break;
      case 4:
        path = "../";
        break;
      default:
        break;
    }
    path.append(raw.substr(1));
  }
  auto r = ws.to_relative(path);
  if (!r) {
    const auto& e = r.error();
    WS_FUZZ_CHECK(e.type == cppflue::ErrorType::invalid_input ||
                      (e.type == cppflue::ErrorType::permission &&
                       cppflue::get_string_or(e.details, "rule", "") == "path_escape"),
                  path);
    return 0;
  }
  check_mapped(*r, path);
  auto again = ws.to_relative(*r);
  WS_FUZZ_CHECK(again && *again == *r, path);
  if (!path.empty() && path[0] != '/' && path.size() + ws.root().string().size() + 16 < PATH_MAX) {
    auto a = ws.to_relative("/workspace/" + path);
    auto b = ws.to_relative(ws.root().string() + "/" + path);
    WS_FUZZ_CHECK(a && *a == *r, path);
    WS_FUZZ_CHECK(b && *b == *r, path);
  }
  return 0;
}
