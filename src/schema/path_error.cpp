// SPDX-License-Identifier: Apache-2.0
// PathError helpers shared by the converter (reflect.hpp) and the validator (validator.hpp).
#include "cppflue/schema/validator.hpp"

#include <fmt/format.h>

namespace cppflue {

std::string escape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_path_errors(const std::vector<PathError>& errors) {
  std::string out;
  for (const PathError& e : errors) {
    if (!out.empty()) out += '\n';
    if (e.path.empty()) out += "(root)";
    for (char c : e.path) {
      // Keep one error per line even when a key holds a control character.
      if (static_cast<unsigned char>(c) < 0x20) {
        out += fmt::format("\\u{:04x}", static_cast<int>(c));
      } else {
        out += c;
      }
    }
    out += ": ";
    out += e.message;
  }
  return out;
}

json path_errors_to_json(const std::vector<PathError>& errors) {
  json_array out;
  for (const PathError& e : errors) {
    out.push_back(json_object{{"path", e.path}, {"message", e.message}});
  }
  return out;
}

Error path_errors_to_error(const std::vector<PathError>& errors) {
  return make_error(ErrorType::invalid_input, format_path_errors(errors),
                    json_object{{"errors", path_errors_to_json(errors)}});
}

}  // namespace cppflue
