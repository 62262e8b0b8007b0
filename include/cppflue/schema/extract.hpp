// SPDX-License-Identifier: Apache-2.0
// cppflue/schema/extract.hpp — finding the JSON answer in a model's free-form text.
//
// When a typed output cannot be requested natively, the model is asked to answer between
// kResultStart and kResultEnd. Extraction is tolerant of what models actually write; in order:
//   1. The LAST `---RESULT_START---` marker: its body runs to the next `---RESULT_END---` (or to
//      the end of the text when the end marker is missing), with or without a newline after
//      the start marker. A ```json fence inside the body is unwrapped. If markers are present
//      the answer is decided by that block alone: when its body holds no JSON, extraction fails
//      (and says why) rather than guessing from the rest of the text.
//   2. The whole text, trimmed, if it is one JSON value.
//   3. The last fenced code block (``` or ```json, any case) whose body is JSON.
//   4. A JSON object or array embedded in prose: candidates are balanced {…}/[…] spans
//      (string- and escape-aware) that parse; spans nested in an accepted one are not
//      candidates. The LAST object wins; failing any object, the last array. The scan does
//      bounded work, so pathological input ("{{{{…") cannot make it quadratic.
// JSON is parsed leniently (comments and trailing commas are accepted). Never throws on any
// input (except std::bad_alloc).
#pragma once

#include <optional>
#include <string_view>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue {

inline constexpr std::string_view kResultStart = "---RESULT_START---";
inline constexpr std::string_view kResultEnd = "---RESULT_END---";

enum class ExtractSource { result_block, whole_text, fenced_block, embedded };

struct Extracted {
  json value;
  ExtractSource source = ExtractSource::whole_text;
};

// The answer and where it was found, or an invalid_input Error saying why there is none
// (e.g. "the ---RESULT_START--- block does not contain valid JSON: ...").
Result<Extracted> try_extract_json(std::string_view text);

// Just the value; nullopt when try_extract_json fails.
std::optional<json> extract_json(std::string_view text);

}  // namespace cppflue
