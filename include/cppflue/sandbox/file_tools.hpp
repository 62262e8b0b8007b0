// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/file_tools.hpp — the model's file tools over a Workspace
// (docs/concepts/sandbox.md).
//
// Each executor takes the tool's JSON arguments and returns the text the model sees, or an
// Error that the harness turns into an `is_error` tool result: `read` (text files, with
// 1-based `offset`/`limit`, capped at 2000 lines / 50 KiB with a note saying how to continue;
// binary files refused; a directory lists its entries), `write`, `edit` (exact text, with
// match counting), `stat`, `exists`, `mkdir`, `rm`. Mutating tools need `allow_write`.
// Paths are confined by the Workspace (escapes are `path_escape` errors).
#pragma once

#include <string>
#include <string_view>

#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace cppflue {

inline constexpr std::size_t kReadMaxLines = 2000;
inline constexpr std::size_t kReadMaxBytes = 50 * 1024;

struct FileToolPolicy {
  bool allow_write = false;
};

Result<std::string> tool_read(const Workspace& ws, const json& args);
Result<std::string> tool_write(const Workspace& ws, const FileToolPolicy& policy, const json& args);
Result<std::string> tool_edit(const Workspace& ws, const FileToolPolicy& policy, const json& args);
Result<std::string> tool_stat(const Workspace& ws, const json& args);
Result<std::string> tool_exists(const Workspace& ws, const json& args);
Result<std::string> tool_mkdir(const Workspace& ws, const FileToolPolicy& policy, const json& args);
Result<std::string> tool_rm(const Workspace& ws, const FileToolPolicy& policy, const json& args);

// A file name or path as tool output shows it: control characters (newline, carriage return,
// escape, ...) as \xNN, so a name cannot forge extra output lines.
std::string printable_path(std::string_view path);

// The JSON Schema of a file tool's arguments ("read", "write", ...); null for other names.
json file_tool_parameters(std::string_view tool);
// One-line description given to the model.
std::string_view file_tool_description(std::string_view tool);

}  // namespace cppflue
