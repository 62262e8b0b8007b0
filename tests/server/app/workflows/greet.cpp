// SPDX-License-Identifier: Apache-2.0
// Workflow "greet": logs, asks an agent (one prompt with a tool call), returns its answer.
#include <string>

#include "cppflue/harness/app.hpp"

static const auto agent = cppflue::create_agent(
    [](const cppflue::AgentContext&) { return cppflue::AgentOptions{.model = "test:demo"}; });

CPPFLUE_WORKFLOW([](cppflue::FlueContext& ctx) -> cppflue::json {
  std::string name = "world";
  if (const auto* n = cppflue::find(ctx.payload(), "name"); n && n->is_string()) {
    name = std::string(n->as_string());
  }
  ctx.log().info("greeting", {{"name", name}});
  auto session = ctx.init(agent).session();
  auto answer = session.prompt("say hello to " + name);
  return cppflue::json_object{{"greeting", answer.text}, {"name", name}};
});
