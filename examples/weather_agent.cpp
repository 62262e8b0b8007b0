// SPDX-License-Identifier: Apache-2.0
// A small CppFlue program: an agent with one custom tool, streaming its answer.
//
//   weather_agent "What is the weather in Paris?"
//
// The model comes from CPPFLUE_MODEL or the API keys in the environment; with none, the
// offline test model plays examples/weather.script.json (a real tool call, scripted answers).
#include <cppflue/cppflue.hpp>

#include <cstdlib>
#include <iostream>

namespace {

bool has_api_key() {
  for (const char* var :
       {"CPPFLUE_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"}) {
    const char* v = std::getenv(var);
    if (v && *v) return true;
  }
  return false;
}

// Example data only: a deterministic temperature derived from the city name.
cppflue::json weather_for(const std::string& city) {
  int temp = 0;
  for (unsigned char c : city) temp = (temp * 31 + c) % 997;
  temp %= 30;
  return cppflue::json_object{{"city", city}, {"tempC", temp}, {"source", "example data"}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string prompt = argc > 1 ? argv[1] : "What is the weather in Paris?";

  cppflue::ToolDefinition weather;
  weather.name = "get_weather";
  weather.description = "Current weather for one city (example data).";
  weather.parameters = cppflue::json_object{
      {"type", "object"},
      {"properties", cppflue::json_object{{"city", cppflue::json_object{{"type", "string"}}}}},
      {"required", cppflue::json_array{"city"}}};
  weather.execute = [](const cppflue::json& args, cppflue::ToolContext&) -> cppflue::json {
    return weather_for(std::string(args.at("city").as_string()));
  };

  cppflue::InitOptions options;
  options.tools = {weather};
  if (!has_api_key()) {
    options.model = std::string("test:") + CPPFLUE_WEATHER_SCRIPT;
    std::cerr << "weather_agent: no API key found: using the offline test model (scripted "
                 "answers, real tool calls)\n";
  }
  try {
    auto agent = cppflue::init(options);
    auto session = agent.session("weather");
    std::cerr << "model: " << agent.model() << "\n\n";
    auto stream = session.stream(prompt);
    for (const cppflue::Event& ev : stream) {
      if (ev.type == "text_delta") {
        std::cout << std::string_view(ev.data.at("text").as_string()) << std::flush;
      } else if (ev.type == "tool_start") {
        std::cout << "\n  [tool] " << std::string_view(ev.data.at("toolName").as_string()) << " "
                  << cppflue::dump(ev.data.at("args")) << "\n";
      } else if (ev.type == "turn_request") {
        std::cout << "\n";
      }
    }
    auto result = stream.result();
    std::cout << "\n\n(" << result.usage.input << " input + " << result.usage.output
              << " output tokens, " << result.metadata.at("turns").as_int64() << " model turns)\n";
  } catch (const cppflue::Exception& e) {
    std::cerr << "weather_agent: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
