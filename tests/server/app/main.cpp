// SPDX-License-Identifier: Apache-2.0
// A small CppFlue application for the server tests: the `cppflue` CLI with compiled workflows
// (workflows/*.cpp) registered, as `cppflue init` scaffolds it.
#include "cppflue/cli.hpp"

int main(int argc, char** argv) {
  return cppflue::cli_main(argc, argv);
}
