// SPDX-License-Identifier: Apache-2.0
// The binary parts of a build's output: the CppFlue files an image builds with (cppflue/), and
// a bundle's binary, jail helper, libraries, loader and CA certificates.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "deploy_output.hpp"
#include "deploy_payload.hpp"
#include "deploy_project.hpp"
#include "deploy_system.hpp"

namespace cppflue::cli::deploy {

namespace fs = std::filesystem;

namespace {

// The prefix CppFlue was found under when the application was configured (cppflue_DIR in the
// CMake cache is <libdir>/cmake/cppflue), and that libdir.
Result<std::pair<fs::path, fs::path>> configured_prefix(const fs::path& build_dir) {
  std::ifstream cache(build_dir / "CMakeCache.txt");
  std::string line;
  while (std::getline(cache, line)) {
    static constexpr std::string_view kKey = "cppflue_DIR:PATH=";
    if (line.rfind(kKey, 0) != 0) continue;
    fs::path config_dir = fs::path(line.substr(kKey.size())).lexically_normal();
    fs::path libdir = config_dir.parent_path().parent_path();
    fs::path prefix = libdir.parent_path();
    if (prefix.filename() == "lib") prefix = prefix.parent_path();  // lib/x86_64-linux-gnu
    return std::make_pair(prefix, libdir);
  }
  return fail(ErrorType::not_found,
              fmt::format("{}/CMakeCache.txt does not say where CppFlue was found (cppflue_DIR)",
                          build_dir.string()));
}

}  // namespace

Result<void> add_cppflue_files(const Project& p, const fs::path& build_dir, OutputDir& out) {
  auto helper = jail_helper();
  if (!helper) return fail(std::move(helper.error()));
  if (auto r = out.copy_file(*helper, "cppflue/libexec/cppflue/cppflue-exec", true); !r) {
    return r;
  }
  if (!p.compiled) {
    auto exe = own_executable();
    if (!exe) return fail(std::move(exe.error()));
    return out.copy_file(*exe, "cppflue/bin/cppflue", true);
  }
  // A compiled project builds in the image against the same CppFlue it was built with here.
  auto found = configured_prefix(build_dir);
  if (!found) return fail(std::move(found.error()));
  const auto& [prefix, libdir] = *found;
  const fs::path lib_rel = libdir.lexically_relative(prefix);
  std::error_code ec;
  if (auto r = out.copy_tree(prefix / "include" / "cppflue", "cppflue/include/cppflue"); !r) {
    return r;
  }
  if (auto r = out.copy_tree(libdir / "cmake" / "cppflue",
                             (fs::path("cppflue") / lib_rel / "cmake" / "cppflue").string());
      !r) {
    return r;
  }
  for (const auto& entry : fs::directory_iterator(libdir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("libcppflue", 0) == 0 && entry.is_regular_file(ec)) {
      if (auto r =
              out.copy_file(entry.path(), (fs::path("cppflue") / lib_rel / name).string(), false);
          !r)
        return r;
    }
  }
  const fs::path pc = libdir / "pkgconfig" / "cppflue.pc";
  if (fs::exists(pc, ec)) {
    if (auto r = out.copy_file(
            pc, (fs::path("cppflue") / lib_rel / "pkgconfig" / "cppflue.pc").string(), false);
        !r) {
      return r;
    }
  }
  return {};
}

Result<void> add_bundle(const Project& p, const fs::path& binary, OutputDir& out,
                        std::vector<std::string>& warnings) {
  auto helper = jail_helper();
  if (!helper) return fail(std::move(helper.error()));
  const std::string name = binary_name(p);
  if (auto r = out.copy_file(binary, "bin/" + name, true); !r) return r;
  if (auto r = out.copy_file(*helper, "libexec/cppflue/cppflue-exec", true); !r) {
    return r;
  }
  auto helper_libs = elf_needed(*helper);
  if (helper_libs && !helper_libs->empty()) {
    warnings.emplace_back(
        fmt::format("{} is not static: the jail needs the host's libraries to "
                    "run it",
                    helper->string()));
  }
  auto libs = shared_libraries(binary);
  if (!libs) return fail(std::move(libs.error()));
  bool loader = false;
  for (const auto& lib : *libs) {
    const std::string file = fs::path(lib.name).filename().string();
    loader = loader || file == "ld-linux-x86-64.so.2";
    if (auto r = out.copy_file(lib.path, "lib/" + file, file == "ld-linux-x86-64.so.2"); !r) {
      return r;
    }
  }
  if (!loader) {
    return fail(ErrorType::invalid_input,
                fmt::format("{} does not use the x86-64 loader ld-linux-x86-64.so.2: it cannot "
                            "be bundled",
                            binary.string()));
  }
  std::error_code ec;
  const fs::path ca = "/etc/ssl/certs/ca-certificates.crt";
  if (fs::exists(ca, ec)) {
    if (auto r = out.copy_file(ca, "etc/ssl/certs/ca-certificates.crt", false); !r) {
      return r;
    }
  } else {
    warnings.emplace_back(
        "no /etc/ssl/certs/ca-certificates.crt here (Debian: ca-certificates): "
        "the bundle uses the certificates of the host it runs on");
  }
  auto state = out.open_dir("state");
  if (!state) return fail(std::move(state.error()));
  ::fchmod(*state, 0700);
  ::close(*state);
  return {};
}

}  // namespace cppflue::cli::deploy
