// SPDX-License-Identifier: Apache-2.0
// Structured results (docs/concepts/typed-outputs.md): how an operation asks for one (natively
// or between delimiters), extracting and checking the answer, and the repair turns.
#include <fmt/format.h>

#include <algorithm>

#include "cppflue/schema/extract.hpp"
#include "cppflue/schema/validator.hpp"
#include "session_internal.hpp"

namespace asio = boost::asio;

namespace cppflue {

bool strict_compatible(const json& schema) {
  if (schema.is_array()) {
    for (const auto& v : schema.get_array()) {
      if (!strict_compatible(v)) return false;
    }
    return true;
  }
  if (!schema.is_object()) return true;
  const auto& o = schema.get_object();
  if (const json* props = find(schema, "properties"); props && props->is_object()) {
    const json* ap = find(schema, "additionalProperties");
    if (!ap || !ap->is_bool() || ap->get_bool()) return false;
    const json* req = find(schema, "required");
    if (!req || !req->is_array() || req->get_array().size() != props->get_object().size()) {
      return false;
    }
  }
  for (const auto& kv : o) {
    if (!strict_compatible(kv.value())) return false;
  }
  return true;
}

Result<OutputRequest> make_output_request(const PromptOptions& o, std::optional<WireApi> api) {
  OutputRequest out;
  json schema = o.result_schema.is_null() ? json(json_object{}) : o.result_schema;
  if (!schema.is_object()) {
    return fail(
        ErrorType::invalid_input,
        fmt::format("result_schema must be a JSON Schema object, got {}", kind_name(schema)));
  }
  if (o.result_check) {
    out.check = o.result_check;
  } else {
    auto validator = SchemaValidator::compile(schema);
    if (!validator) {
      Error e = validator.error();
      e.message = "result_schema is not a valid JSON Schema: " + e.message;
      return fail(std::move(e));
    }
    out.check = [v = std::move(*validator)](const json& value) { return v.validate(value); };
  }
  out.format.schema = schema;
  out.format.strict = strict_compatible(schema);
  out.native = api.has_value();
  out.instructions = fmt::format(
      "Return the final structured result as JSON between these exact delimiters:\n{}\n"
      "{{...valid JSON...}}\n{}\nThe JSON must satisfy this JSON Schema:\n{}",
      kResultStart, kResultEnd, dump_pretty(schema));
  return out;
}

namespace {

// The answer's value, or what is wrong with it (`errors` non-empty).
struct CheckedAnswer {
  json value;
  std::vector<PathError> errors;
};

CheckedAnswer check_answer(const OutputRequest& output, const std::string& text) {
  auto extracted = try_extract_json(text);
  if (!extracted) return {nullptr, {PathError{"", extracted.error().message}}};
  auto errors = output.check(extracted->value);
  if (!errors.empty()) return {nullptr, std::move(errors)};
  return {std::move(extracted->value), {}};
}

std::string repair_request(const OutputRequest& output, const std::string& answer,
                           const std::vector<PathError>& errors) {
  return fmt::format(
      "Your previous answer did not match the required result schema.\n\nYour previous "
      "answer:\n{}\n\nProblems (JSON pointer: problem):\n{}\n\nAnswer again with the "
      "corrected result only: no commentary, no extra keys.{}",
      answer, format_path_errors(errors), output.native ? "" : "\n\n" + output.instructions);
}

}  // namespace

asio::awaitable<Result<json>> SessionImpl::typed_result(OperationContext& ctx,
                                                        const OutputRequest& output, int retries,
                                                        ModelResponse& final) {
  for (int attempt = 0;; ++attempt) {
    CheckedAnswer checked = check_answer(output, final.message.text);
    if (checked.errors.empty()) co_return std::move(checked.value);
    const auto& errors = checked.errors;
    if (attempt >= retries) {
      co_return fail(ErrorType::typed_output_error,
                     fmt::format("the model's answer did not match the result schema after {} "
                                 "attempt{}:\n{}",
                                 attempt + 1, attempt ? "s" : "", format_path_errors(errors)),
                     json_object{{"errors", path_errors_to_json(errors)},
                                 {"raw", final.message.text},
                                 {"attempts", attempt + 1}});
    }
    Message repair;
    repair.role = Role::user;
    repair.text = repair_request(output, final.message.text, errors);
    if (auto r = append(repair, "repair"); !r) co_return fail(r.error());
    auto next = co_await agent->backend->run(ctx);
    if (!next) co_return fail(next.error());
    final = std::move(*next);
  }
}

}  // namespace cppflue
