// SPDX-License-Identifier: Apache-2.0
// Workflow "fail": {"internal": true} throws a plain exception whose text must not reach an
// HTTP client; otherwise an invalid_input error.
#include <stdexcept>

#include "cppflue/harness/app.hpp"

CPPFLUE_WORKFLOW([](cppflue::FlueContext& ctx) -> cppflue::json {
  if (const auto* i = cppflue::find(ctx.payload(), "internal"); i && i->is_bool() && i->as_bool()) {
    throw std::runtime_error("secret internal detail /etc/passwd");
  }
  throw cppflue::Exception(
      cppflue::make_error(cppflue::ErrorType::invalid_input, "the payload needs a \"text\" field"));
});
