// SPDX-License-Identifier: Apache-2.0
// cppflue/core/redact.hpp — replacing secret values in text before it is stored, streamed or
// sent to a model.
//
// A `Redactor` knows named secret values and replaces each occurrence with
// "[REDACTED:<name>]". Besides the value itself it recognises, for values of at least 8 bytes,
// the common ways a command can re-encode it: reversed, hexadecimal (lower and upper case),
// URL-encoded and base64 (standard and URL-safe, at any alignment inside a longer encoded
// text), and any substring of at least `kMinFragment` bytes of the value or of those encodings
// (`${TOKEN#?}`, `cut -c2-`). It is a safety net for output, not a guarantee: a command that
// transforms a secret in other ways (encrypting it, interleaving it) is not recognised.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {

class Redactor {
 public:
  static constexpr std::size_t kMinFragment = 10;
  static constexpr std::size_t kMinEncoded = 8;  // shorter values are matched as they are only

  void add(std::string name, std::string value);
  bool empty() const { return names_.empty(); }
  std::string apply(std::string_view text) const;
  void apply(json& value) const;  // every string (and object key) in place

 private:
  void add_form(std::string form, std::size_t name);

  std::vector<std::string> names_;
  std::vector<std::unique_ptr<const std::string>> forms_;        // stable storage of the forms
  std::vector<std::pair<std::string_view, std::size_t>> exact_;  // forms shorter than a fragment
  std::unordered_map<std::string_view, std::size_t> fragments_;  // kMinFragment-grams → name
};

}  // namespace cppflue
