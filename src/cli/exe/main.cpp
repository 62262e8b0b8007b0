// SPDX-License-Identifier: Apache-2.0
// The `cppflue` binary: the command line of <cppflue/cli.hpp> with no application code.
#include "cppflue/cli.hpp"

int main(int argc, char** argv) {
  return cppflue::cli_main(argc, argv);
}
