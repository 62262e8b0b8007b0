// SPDX-License-Identifier: Apache-2.0
// The binary parts of `cppflue build`'s output (deploy_payload.cpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "deploy.hpp"

namespace cppflue::cli::deploy {

class OutputDir;

// cppflue/ of a container target: libexec/cppflue/cppflue-exec, and bin/cppflue
// (a Markdown project) or the library, headers and CMake package the compiled project was
// configured with in `build_dir` (a compiled one).
Result<void> add_cppflue_files(const Project& p, const std::filesystem::path& build_dir,
                               OutputDir& out);

// A bundle in `out`: bin/<binary>, libexec/cppflue/cppflue-exec, lib/ (every library
// `binary` loads, and the loader), etc/ssl/certs/ca-certificates.crt and an empty state/.
Result<void> add_bundle(const Project& p, const std::filesystem::path& binary, OutputDir& out,
                        std::vector<std::string>& warnings);

}  // namespace cppflue::cli::deploy
