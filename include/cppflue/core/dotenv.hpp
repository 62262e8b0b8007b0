// SPDX-License-Identifier: Apache-2.0
// cppflue/core/dotenv.hpp — a project's `.env` file: KEY=VALUE lines loaded into the process
// environment, where variables already set win.
//
// The format: one `KEY=VALUE` per line (an `export ` prefix is allowed); blank lines and lines
// starting with `#` are skipped; an unquoted value ends at ` #` and is trimmed; a value in
// double quotes may span lines and understands \n, \t, \", \\ ; a value in single quotes is
// literal (and may span lines). Values are not expanded (`${X}` stays as written). Anything
// else is an error naming the file and line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue {

// The variables of a .env text, in order; `origin` names the file in errors ("origin:line: ...").
Result<std::vector<std::pair<std::string, std::string>>> parse_dotenv(std::string_view text,
                                                                      std::string_view origin);

// Reads `file` (a regular file of at most 1 MiB; a missing file loads nothing) and sets each of
// its variables that is not already in the environment. Returns how many were set.
// Not thread-safe (setenv): call it before starting threads.
Result<int> load_dotenv(const std::filesystem::path& file);

// From now on, discover_config() also loads `<project root>/.env`, once per process (the first
// discovery; later ones do not change the environment). The CLI turns this on.
void enable_project_dotenv();

}  // namespace cppflue
