// SPDX-License-Identifier: Apache-2.0
// The agent "weather": the model comes from the project's cppflue.toml (the fake model), one
// tool answers with fixed weather, as the Flue agent does.
#include <cppflue/cppflue.hpp>
#include <cppflue/harness/app.hpp>

CPPFLUE_AGENT([](const cppflue::AgentContext&) {
  cppflue::ToolDefinition weather;
  weather.name = "get_weather";
  weather.description = "Get the current weather for one city.";
  weather.parameters = cppflue::json_object{
      {"type", "object"},
      {"properties", cppflue::json_object{{"city", cppflue::json_object{{"type", "string"}}}}},
      {"required", cppflue::json_array{"city"}},
      {"additionalProperties", false}};
  weather.execute = [](const cppflue::json& args, cppflue::ToolContext&) -> cppflue::json {
    return cppflue::json_object{{"city", args.at("city")}, {"forecast", "sunny"}, {"tempC", 21}};
  };
  cppflue::AgentOptions options;
  options.instructions =
      "You are a weather assistant. Use the get_weather tool, then answer in one sentence.";
  options.sandbox = "none";  // only get_weather is offered (see BENCHMARKS.md)
  options.tools = {weather};
  return options;
});
