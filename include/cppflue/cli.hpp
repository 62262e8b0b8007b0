// SPDX-License-Identifier: Apache-2.0
// cppflue/cli.hpp — the `cppflue` command line as a function, for CppFlue applications.
//
// An application's `main` is `return cppflue::cli_main(argc, argv);`: it then has every
// `cppflue` command (run, chat, sessions, doctor, init, skill, ...) with its own compiled
// agents and workflows (CPPFLUE_AGENT / CPPFLUE_WORKFLOW) available to `run`. Link
// `cppflue::cli` (CMake) or `-lcppflue-cli` before `-lcppflue`.
#pragma once

namespace cppflue {

// Parses the arguments, runs the command, returns the process exit status (0 success, 1 error,
// 130 aborted).
int cli_main(int argc, char** argv);

}  // namespace cppflue
