// SPDX-License-Identifier: Apache-2.0
// How the command line reports errors: a line on stderr, styled only for a terminal that wants
// it, and in JSON mode (--json, --stream) also one JSON object on stdout.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "cli.hpp"

namespace cppflue::cli {

namespace {
std::atomic<bool> g_json_errors{false};
}  // namespace

bool styled(int fd) {
  const char* no_color = std::getenv("NO_COLOR");  // https://no-color.org: set and not empty
  if (no_color != nullptr && *no_color != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return isatty(fd) == 1;
}

std::string error_prefix() {
  if (styled(STDERR_FILENO)) return "cppflue: \033[1;31merror:\033[0m ";
  return "cppflue: error: ";
}

void set_json_errors(bool on) {
  g_json_errors = on;
}

bool json_errors() {
  return g_json_errors.load();
}

json error_object(const Error& e) {
  return json_object{{"error", json_object{{"type", wire_name(e.type)}, {"message", e.message}}}};
}

int report_error(const Error& error) {
  if (json_errors()) std::cout << dump(error_object(error)) << std::endl;
  std::cerr << error_prefix() << error.message << std::endl;
  return 1;
}

int report_error(ErrorType type, const std::string& message) {
  return report_error(make_error(type, message));
}

int report_error(const std::string& message) {
  return report_error(ErrorType::invalid_input, message);
}

}  // namespace cppflue::cli
