// SPDX-License-Identifier: Apache-2.0
// The CppFlue side of the comparison: the `cppflue` command line with the agent "weather"
// compiled in (the same instructions and tool as flue/src/agents/weather.ts).
#include <cppflue/cli.hpp>

int main(int argc, char** argv) {
  return cppflue::cli_main(argc, argv);
}
