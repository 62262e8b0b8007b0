// SPDX-License-Identifier: Apache-2.0
// The JSON forms of the results of options.hpp.
#include "cppflue/harness/options.hpp"

namespace cppflue {

json to_json(const ShellResult& r) {
  json_object o{{"stdout", r.stdout_text},
                {"stderr", r.stderr_text},
                {"exit_code", r.exit_code},
                {"truncated", r.truncated}};
  if (r.timed_out) o["timed_out"] = true;
  return o;
}

json to_json(const PromptResult& r) {
  return json_object{{"text", r.text},
                     {"usage", to_json(r.usage)},
                     {"model", r.model},
                     {"session_id", r.session_id},
                     {"metadata", r.metadata}};
}

}  // namespace cppflue
