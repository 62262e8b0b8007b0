// SPDX-License-Identifier: Apache-2.0
// Hints for mistyped input: "did you mean" suggestions (by edit distance), the command that
// sends a word as a prompt, and what to do about an agent this binary does not have.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/suggest.hpp"

namespace cppflue::cli {

// edit_distance and closest come from the core (cppflue/core/suggest.hpp).
using cppflue::closest;
using cppflue::edit_distance;

// `text` in double quotes for a POSIX shell: "hello", "say \"hi\"".
std::string double_quoted(std::string_view text);

// `s` as one word for a POSIX shell: as it is when made of safe characters, else single-quoted.
std::string shell_word(std::string_view s);

// "to send a prompt use cppflue run -p \"WORD\"" (`program` is the binary's name).
std::string prompt_hint(std::string_view program, std::string_view word);

// The name the binary was started as (the last component of argv[0]); "cppflue" when unknown.
const std::string& program_name();
void set_program_name(const char* argv0);

// What to append to "unknown agent 'NAME' (...)" for a project rooted at `root`: when
// src/agents/NAME.cpp exists, on new lines, that a compiled agent runs from its application's
// own binary and the commands that build it and run `example` (e.g. `run --agent NAME -p "hi"`)
// with it; else "; did you mean 'X'?" with the closest agent name; else, on a new line, how
// compiled and Markdown agents are found. `available` are the agents this binary and
// .agents/agents offer.
std::string unknown_agent_hint(const std::string& name, const std::filesystem::path& root,
                               const std::vector<std::string>& available,
                               const std::string& example);

// For a workflow this binary does not have whose source src/workflows/NAME.cpp is in the
// project at `root`: on new lines, that compiled workflows run from their application's own
// binary, and the commands that build it and run `example` with it. Empty otherwise.
std::string compiled_workflow_hint(const std::string& name, const std::filesystem::path& root,
                                   const std::string& example);

// The stems of the project's src/FOLDER/*.cpp (compiled agents or workflows), sorted.
std::vector<std::string> source_names(const std::filesystem::path& root, std::string_view folder);

// The agents `find_agent` offers at `root` (compiled ones of this binary, then Markdown ones),
// then those of the project's src/agents/*.cpp.
std::vector<std::string> available_agents(const std::filesystem::path& root);

}  // namespace cppflue::cli
