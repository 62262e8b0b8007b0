// SPDX-License-Identifier: Apache-2.0
#include "cppflue/sandbox/file_tools.hpp"

#include <fmt/format.h>

#include "cppflue/core/clock.hpp"

namespace cppflue {
namespace {

// ---- argument access with clear errors ----

Result<std::string> required_string(std::string_view tool, const json& args, std::string_view key) {
  const json* v = find(args, key);
  if (!v)
    return fail(ErrorType::invalid_input,
                fmt::format("{}: missing required argument '{}'", tool, key));
  if (!v->is_string()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{}: '{}' must be a string, got {}", tool, key, kind_name(*v)));
  }
  return std::string(v->get_string());
}

Result<bool> optional_bool(std::string_view tool, const json& args, std::string_view key,
                           bool fallback) {
  const json* v = find(args, key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_bool()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{}: '{}' must be a boolean, got {}", tool, key, kind_name(*v)));
  }
  return v->get_bool();
}

Result<std::size_t> optional_count(std::string_view tool, const json& args, std::string_view key,
                                   std::size_t fallback) {
  const json* v = find(args, key);
  if (!v || v->is_null()) return fallback;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    n = static_cast<std::int64_t>(std::min<std::uint64_t>(v->get_uint64(), INT64_MAX));
  } else if (v->is_double() &&
             v->get_double() == static_cast<double>(static_cast<std::int64_t>(v->get_double()))) {
    n = static_cast<std::int64_t>(v->get_double());
  } else {
    return fail(ErrorType::invalid_input,
                fmt::format("{}: '{}' must be a whole number, got {}", tool, key, kind_name(*v)));
  }
  if (n < 1) {
    return fail(ErrorType::invalid_input, fmt::format("{}: '{}' must be at least 1", tool, key));
  }
  return static_cast<std::size_t>(n);
}

Result<void> require_write(std::string_view tool, const FileToolPolicy& policy) {
  if (policy.allow_write) return {};
  return fail(
      ErrorType::policy,
      fmt::format("{}: writing files is not allowed for this agent (allow_write is off)", tool),
      json_object{{"rule", "allow_write"}});
}

std::string display(const Workspace& ws, std::string_view path) {
  auto rel = ws.to_relative(path);
  if (!rel) return std::string(path);
  return *rel == "." ? "/" : "/" + *rel;
}

bool looks_binary(std::string_view data) {
  return data.substr(0, 8192).find('\0') != std::string_view::npos;
}

}  // namespace

Result<std::string> tool_read(const Workspace& ws, const json& args) {
  auto path = required_string("read", args, "path");
  if (!path) return fail(path.error());
  auto offset = optional_count("read", args, "offset", 1);
  if (!offset) return fail(offset.error());
  auto limit = optional_count("read", args, "limit", kReadMaxLines);
  if (!limit) return fail(limit.error());

  auto info = ws.stat(*path);
  if (!info) return fail(info.error());
  if (info->is_dir) {
    auto entries = ws.list_dir(*path);
    if (!entries) return fail(entries.error());
    std::string out;
    for (const auto& e : *entries) out += printable_path(e.name) + (e.is_dir ? "/" : "") + "\n";
    if (out.empty()) out = fmt::format("(the directory {} is empty)\n", info->path);
    return out;
  }
  auto data = ws.read_file(*path);
  if (!data) return fail(data.error());
  if (looks_binary(*data)) {
    return fail(ErrorType::invalid_input,
                fmt::format("read: {} is a binary file ({} bytes); the read tool only returns text "
                            "(use the library's read_bytes for binary content)",
                            info->path, data->size()));
  }
  // Select lines [offset, offset + limit), then cap at kReadMaxLines and kReadMaxBytes.
  std::size_t total_lines = 0;
  std::string out;
  std::size_t first = *offset, shown = 0, last_shown = 0;
  bool byte_capped = false;
  std::size_t max_lines = std::min(*limit, kReadMaxLines);
  std::size_t pos = 0;
  while (pos < data->size()) {
    std::size_t end = data->find('\n', pos);
    std::size_t next = end == std::string::npos ? data->size() : end + 1;
    ++total_lines;
    if (total_lines >= first && shown < max_lines && !byte_capped) {
      std::string_view line(data->data() + pos, next - pos);
      if (out.size() + line.size() > kReadMaxBytes) {
        byte_capped = true;
      } else {
        out.append(line);
        ++shown;
        last_shown = total_lines;
      }
    }
    pos = next;
  }
  if (total_lines == 0) return fmt::format("(the file {} is empty)\n", info->path);
  if (first > total_lines) {
    return fail(ErrorType::invalid_input,
                fmt::format("read: offset {} is past the end of {} ({} lines)", first, info->path,
                            total_lines));
  }
  if (last_shown < total_lines) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out +=
        fmt::format("[showing lines {}-{} of {}{}; continue with offset={}]\n", first, last_shown,
                    total_lines, byte_capped ? " (50 KiB limit)" : "", last_shown + 1);
  }
  return out;
}

Result<std::string> tool_write(const Workspace& ws, const FileToolPolicy& policy,
                               const json& args) {
  if (auto r = require_write("write", policy); !r) return fail(r.error());
  auto path = required_string("write", args, "path");
  if (!path) return fail(path.error());
  auto content = required_string("write", args, "content");
  if (!content) return fail(content.error());
  if (auto r = ws.write_file(*path, *content, true); !r) return fail(r.error());
  return fmt::format("wrote {} bytes to {}", content->size(), display(ws, *path));
}

Result<std::string> tool_edit(const Workspace& ws, const FileToolPolicy& policy, const json& args) {
  if (auto r = require_write("edit", policy); !r) return fail(r.error());
  auto path = required_string("edit", args, "path");
  if (!path) return fail(path.error());
  auto old_text = required_string("edit", args, "old_text");
  if (!old_text) return fail(old_text.error());
  auto new_text = required_string("edit", args, "new_text");
  if (!new_text) return fail(new_text.error());
  auto replace_all = optional_bool("edit", args, "replace_all", false);
  if (!replace_all) return fail(replace_all.error());
  if (old_text->empty())
    return fail(ErrorType::invalid_input, "edit: 'old_text' must not be empty");

  auto data = ws.read_file(*path);
  if (!data) return fail(data.error());
  std::string where = display(ws, *path);
  if (looks_binary(*data)) {
    return fail(ErrorType::invalid_input, fmt::format("edit: {} is a binary file", where));
  }
  std::size_t count = 0;
  for (std::size_t p = data->find(*old_text); p != std::string::npos;
       p = data->find(*old_text, p + old_text->size())) {
    ++count;
  }
  if (count == 0) {
    return fail(ErrorType::invalid_input,
                fmt::format("edit: old_text was not found in {} (it must match exactly, including "
                            "whitespace and indentation)",
                            where),
                json_object{{"matches", 0}});
  }
  if (count > 1 && !*replace_all) {
    return fail(
        ErrorType::invalid_input,
        fmt::format("edit: old_text occurs {} times in {}; include more surrounding text to "
                    "make it unique, or pass replace_all=true",
                    count, where),
        json_object{{"matches", count}});
  }
  std::string out;
  out.reserve(data->size());
  std::size_t pos = 0;
  for (std::size_t p = data->find(*old_text); p != std::string::npos;
       p = data->find(*old_text, pos)) {
    out.append(*data, pos, p - pos);
    out.append(*new_text);
    pos = p + old_text->size();
  }
  out.append(*data, pos, std::string::npos);
  if (auto r = ws.write_file(*path, out, false); !r) return fail(r.error());
  return fmt::format("replaced {} occurrence{} in {}", count, count == 1 ? "" : "s", where);
}

Result<std::string> tool_stat(const Workspace& ws, const json& args) {
  auto path = required_string("stat", args, "path");
  if (!path) return fail(path.error());
  auto info = ws.stat(*path);
  if (!info) return fail(info.error());
  return dump(json_object{{"path", info->path},
                          {"is_file", info->is_file},
                          {"is_dir", info->is_dir},
                          {"is_symlink", info->is_symlink},
                          {"size", info->size},
                          {"mtime", iso8601(info->mtime)}});
}

Result<std::string> tool_exists(const Workspace& ws, const json& args) {
  auto path = required_string("exists", args, "path");
  if (!path) return fail(path.error());
  auto e = ws.exists(*path);
  if (!e) return fail(e.error());
  return std::string(*e ? "true" : "false");
}

Result<std::string> tool_mkdir(const Workspace& ws, const FileToolPolicy& policy,
                               const json& args) {
  if (auto r = require_write("mkdir", policy); !r) return fail(r.error());
  auto path = required_string("mkdir", args, "path");
  if (!path) return fail(path.error());
  auto recursive = optional_bool("mkdir", args, "recursive", false);
  if (!recursive) return fail(recursive.error());
  if (auto r = ws.mkdir(*path, *recursive); !r) return fail(r.error());
  return fmt::format("created {}", display(ws, *path));
}

Result<std::string> tool_rm(const Workspace& ws, const FileToolPolicy& policy, const json& args) {
  if (auto r = require_write("rm", policy); !r) return fail(r.error());
  auto path = required_string("rm", args, "path");
  if (!path) return fail(path.error());
  auto recursive = optional_bool("rm", args, "recursive", false);
  if (!recursive) return fail(recursive.error());
  auto force = optional_bool("rm", args, "force", false);
  if (!force) return fail(force.error());
  if (auto r = ws.remove(*path, *recursive, *force); !r) return fail(r.error());
  return fmt::format("removed {}", display(ws, *path));
}

namespace {
json string_prop(std::string_view description) {
  return json_object{{"type", "string"}, {"description", description}};
}
json bool_prop(std::string_view description) {
  return json_object{{"type", "boolean"}, {"description", description}};
}
json schema(json_object properties, json_array required) {
  return json_object{{"type", "object"},
                     {"properties", std::move(properties)},
                     {"required", std::move(required)},
                     {"additionalProperties", false}};
}
constexpr std::string_view kPathDoc = "Path inside the workspace (relative, or starting with /)";
}  // namespace

json file_tool_parameters(std::string_view tool) {
  if (tool == "read") {
    return schema({{"path", string_prop(kPathDoc)},
                   {"offset", json_object{{"type", "integer"},
                                          {"minimum", 1},
                                          {"description", "First line to return (1-based)"}}},
                   {"limit", json_object{{"type", "integer"},
                                         {"minimum", 1},
                                         {"description", "Number of lines to return"}}}},
                  {"path"});
  }
  if (tool == "write") {
    return schema(
        {{"path", string_prop(kPathDoc)}, {"content", string_prop("The whole new file content")}},
        {"path", "content"});
  }
  if (tool == "edit") {
    return schema(
        {{"path", string_prop(kPathDoc)},
         {"old_text", string_prop("Exact text to replace (must be unique unless replace_all)")},
         {"new_text", string_prop("Replacement text")},
         {"replace_all", bool_prop("Replace every occurrence")}},
        {"path", "old_text", "new_text"});
  }
  if (tool == "stat" || tool == "exists")
    return schema({{"path", string_prop(kPathDoc)}}, {"path"});
  if (tool == "mkdir") {
    return schema(
        {{"path", string_prop(kPathDoc)}, {"recursive", bool_prop("Create missing parents too")}},
        {"path"});
  }
  if (tool == "rm") {
    return schema({{"path", string_prop(kPathDoc)},
                   {"recursive", bool_prop("Remove a directory and its contents")},
                   {"force", bool_prop("Do not fail when the path does not exist")}},
                  {"path"});
  }
  return nullptr;
}

std::string_view file_tool_description(std::string_view tool) {
  if (tool == "read") {
    return "Read a text file (at most 2000 lines / 50 KiB per call; use offset and limit to page), "
           "or list a directory.";
  }
  if (tool == "write")
    return "Create or overwrite a file with the given content (parents are created).";
  if (tool == "edit") return "Replace exact text in a file.";
  if (tool == "stat") return "File metadata: type, size, modification time.";
  if (tool == "exists") return "Whether a path exists.";
  if (tool == "mkdir") return "Create a directory.";
  if (tool == "rm")
    return "Remove a file, or a directory with recursive=true (never the workspace root).";
  return "";
}

std::string printable_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace cppflue
