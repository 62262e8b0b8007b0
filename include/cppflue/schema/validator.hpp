// SPDX-License-Identifier: Apache-2.0
// cppflue/schema/validator.hpp — JSON Schema validation (draft 7; valijson behind a pimpl).
//
// Compile a schema once, validate many values, from any number of threads. Errors come back
// as JSON pointers with short messages meant for a model to act on:
//   /items/1/price: expected number, got string
//   (root): missing required property "name"
//   (root): unexpected property "foo"
// Local `$ref`s (`#/definitions/...`, `#/$defs/...`) are resolved; remote ones are rejected.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue {

// One conversion or validation problem. `path` is a JSON pointer ("" is the whole value).
struct PathError {
  std::string path;
  std::string message;
  friend bool operator==(const PathError&, const PathError&) = default;
};

// "path: message" lines ("(root)" for the empty path), for errors shown to models and users.
std::string format_path_errors(const std::vector<PathError>& errors);
// [{"path": ..., "message": ...}, ...]
json path_errors_to_json(const std::vector<PathError>& errors);
// An invalid_input Error whose message is format_path_errors(errors) and whose details are
// {"errors": path_errors_to_json(errors)}.
Error path_errors_to_error(const std::vector<PathError>& errors);
// One JSON-pointer reference token, escaped per RFC 6901 ("~" → "~0", "/" → "~1").
std::string escape_pointer_token(std::string_view token);

class SchemaValidator {
 public:
  // Fails (invalid_input) when `schema` is not an object or is not a valid schema.
  static Result<SchemaValidator> compile(const json& schema);

  // Every problem with `instance`, each once, at its most specific path; empty when valid.
  std::vector<PathError> validate(const json& instance) const;

  const json& schema() const;

 private:
  struct Impl;
  explicit SchemaValidator(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable after compile; copies share it
};

}  // namespace cppflue
