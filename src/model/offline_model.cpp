// SPDX-License-Identifier: Apache-2.0
#include "cppflue/model/offline_model.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cppflue/core/async.hpp"

namespace asio = boost::asio;

namespace cppflue {
namespace {

// `demo` looks around the workspace when a `glob` tool is offered and otherwise answers
// directly; `echo` repeats the prompt. Turns with "requires_tool" are skipped when the tool is
// not offered.
constexpr std::string_view kDemoScript = R"({
  "turns": [
    {"requires_tool": "glob",
     "text": "You said: \"{{prompt}}\". Let me look at the files in the workspace first.",
     "tool_calls": [{"name": "glob", "arguments": {"pattern": "*"}}]},
    {"requires_tool": "glob",
     "text": "Here is what the workspace holds:\n{{tool_result}}\nThat was a real tool call, run by the harness. Set OPENAI_API_KEY (or ANTHROPIC_API_KEY, GEMINI_API_KEY) to talk to a real model."},
    {"text": "Hello! You said: \"{{prompt}}\". No tool was offered to me. Set OPENAI_API_KEY (or ANTHROPIC_API_KEY, GEMINI_API_KEY) to talk to a real model."}
  ]
})";

constexpr std::string_view kEchoScript = R"({"turns": [{"text": "You said: {{prompt}}"}]})";

std::string read_text_file(const std::filesystem::path& p, bool& ok) {
  std::ifstream in(p, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One pass over the template: inserted values are never expanded again, so a prompt that
// contains "{{tools}}" is repeated literally.
std::string expand(std::string_view tmpl,
                   const std::vector<std::pair<std::string_view, std::string_view>>& vars) {
  std::string out;
  out.reserve(tmpl.size());
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    std::size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    out.append(tmpl.substr(pos, open - pos));
    std::size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      pos = open;
      break;
    }
    std::string_view name = tmpl.substr(open + 2, close - open - 2);
    bool found = false;
    for (const auto& [k, v] : vars) {
      if (k == name) {
        out.append(v);
        found = true;
        break;
      }
    }
    if (!found) out.append(tmpl.substr(open, close + 2 - open));
    pos = close + 2;
  }
  out.append(tmpl.substr(pos));
  return out;
}

std::int64_t estimate_tokens(std::size_t chars) {
  return chars == 0 ? 0 : static_cast<std::int64_t>(std::max<std::size_t>(1, chars / 4));
}

constexpr std::string_view kResultStartMarker = "---RESULT_START---";
constexpr std::string_view kResultEndMarker = "---RESULT_END---";
constexpr std::string_view kSchemaIntro = "JSON Schema:\n";

// A small value that satisfies the common JSON Schema keywords (type, properties, required,
// items, enum, const, minimum, minItems); good enough for demos and tests.
json example_of(const json& schema, int depth = 0) {
  if (depth > 16 || !schema.is_object()) return nullptr;
  if (const json* c = find(schema, "const")) return *c;
  if (const json* e = find(schema, "enum"); e && e->is_array() && !e->get_array().empty()) {
    return e->get_array().front();
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (const json* alts = find(schema, key);
        alts && alts->is_array() && !alts->get_array().empty()) {
      return example_of(alts->get_array().front(), depth + 1);
    }
  }
  std::string type = get_string_or(schema, "type", "");
  if (type.empty()) {
    if (const json* t = find(schema, "type");
        t && t->is_array() && !t->get_array().empty() && t->get_array().front().is_string()) {
      type = std::string(t->get_array().front().get_string());
    } else if (find(schema, "properties")) {
      type = "object";
    }
  }
  if (type == "object") {
    json_object out;
    if (const json* props = find(schema, "properties"); props && props->is_object()) {
      for (const auto& kv : props->get_object()) out[kv.key()] = example_of(kv.value(), depth + 1);
    }
    return out;
  }
  if (type == "array") {
    json_array out;
    auto min_items = get_int(schema, "minItems").value_or(0);
    const json* items = find(schema, "items");
    for (std::int64_t i = 0; i < std::min<std::int64_t>(min_items, 8); ++i) {
      out.push_back(items ? example_of(*items, depth + 1) : json(nullptr));
    }
    return out;
  }
  if (type == "string") return json(std::string(kOfflineMarker) + " example");
  if (type == "integer") return json(get_int(schema, "minimum").value_or(0));
  if (type == "number") {
    const json* m = find(schema, "minimum");
    return m && m->is_number() ? *m : json(0);
  }
  if (type == "boolean") return json(false);
  return nullptr;
}

// The example for the schema the harness appended to `prompt` (after "JSON Schema:\n"), if
// the prompt asks for the result delimiters.
std::optional<json> requested_example(const std::string& prompt) {
  if (prompt.find(kResultStartMarker) == std::string::npos) return std::nullopt;
  auto at = prompt.rfind(kSchemaIntro);
  if (at == std::string::npos) return std::nullopt;
  auto schema = parse_json(std::string_view(prompt).substr(at + kSchemaIntro.size()), "schema");
  if (!schema || !schema->is_object()) return std::nullopt;
  return example_of(*schema);
}

// Where a request stands within the current prompt.
struct PromptPosition {
  std::string prompt;       // the last user message
  std::string tool_result;  // the tool results that end the conversation, oldest first
  std::size_t replies = 0;  // assistant messages since the last user message
};

PromptPosition prompt_position(const std::vector<Message>& messages) {
  PromptPosition at;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role == Role::user) {
      at.prompt = it->text;
      break;
    }
    if (it->role == Role::assistant) ++at.replies;
  }
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role != Role::tool) break;
    at.tool_result = it->text + (at.tool_result.empty() ? "" : "\n" + at.tool_result);
  }
  return at;
}

// The turn's text with {{prompt}}, {{tool_result}} and {{tools}} filled in, plus a
// schema-shaped result when the prompt asks for one.
std::string answer_text(const OfflineTurn& turn, const std::vector<ToolSpec>& offered,
                        const PromptPosition& at) {
  std::string tools;
  for (const auto& spec : offered) tools += (tools.empty() ? "" : ", ") + spec.name;
  std::string text = fmt::format(
      "{} {}", kOfflineMarker,
      expand(turn.text,
             {{"prompt", at.prompt},
              {"tool_result", at.tool_result},
              {"tools", tools.empty() ? std::string_view("(none)") : std::string_view(tools)}}));
  // A structured result asked for with the harness's delimiters (the offline model has no
  // native schema support): answer with a schema-shaped example unless the script already
  // answers in that form.
  if (turn.tool_calls.empty() && turn.text.find(kResultStartMarker) == std::string::npos) {
    if (auto example = requested_example(at.prompt)) {
      text += fmt::format("\n{}\n{}\n{}", kResultStartMarker, dump(*example), kResultEndMarker);
    }
  }
  return text;
}

// About four characters a token, over everything sent and answered.
Usage estimate_usage(const ModelRequest& request, const Message& answer) {
  Usage usage;
  std::size_t in_chars = request.system.size();
  for (const auto& m : request.messages) in_chars += m.text.size();
  usage.input = estimate_tokens(in_chars);
  usage.output = estimate_tokens(answer.text.size() + answer.thinking.size());
  usage.total_tokens = usage.input + usage.output;
  return usage;
}

// The thinking, the text in word-sized pieces (like a real stream), then the tool calls.
void stream_deltas(const Message& answer, const DeltaCallback& on_delta) {
  if (!answer.thinking.empty())
    on_delta(ModelDelta{ModelDelta::Kind::thinking, answer.thinking, 0});
  const std::string& text = answer.text;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t next = text.find(' ', pos + 1);
    if (next == std::string::npos) next = text.size();
    on_delta(ModelDelta{ModelDelta::Kind::text, text.substr(pos, next - pos), 0});
    pos = next;
  }
  for (std::size_t i = 0; i < answer.tool_calls.size(); ++i) {
    on_delta(
        ModelDelta{ModelDelta::Kind::tool_call, answer.tool_calls[i].name, static_cast<int>(i)});
  }
}

class OfflineModel final : public ModelClient {
 public:
  OfflineModel(std::vector<OfflineTurn> turns, std::string name)
      : turns_(std::move(turns)), name_(std::move(name)) {}

  asio::awaitable<Result<ModelResponse>> complete(ModelRequest request, DeltaCallback on_delta,
                                                  CancelToken cancel) override {
    PromptPosition at = prompt_position(request.messages);
    OfflineTurn turn = turn_at(request.tools, at.replies);
    if (turn.delay_ms > 0 &&
        !co_await sleep_for(std::chrono::milliseconds(turn.delay_ms), cancel)) {
      co_return fail(ErrorType::cancelled, "model request was aborted");
    }
    if (cancel.cancelled()) co_return fail(ErrorType::cancelled, "model request was aborted");

    ModelResponse response = respond(turn, answer_text(turn, request.tools, at));
    response.usage = estimate_usage(request, response.message);
    if (request.stream && on_delta) stream_deltas(response.message, on_delta);
    co_return response;
  }

 private:
  // The `k`th of the turns that apply (those whose required tool is offered).
  OfflineTurn turn_at(const std::vector<ToolSpec>& offered, std::size_t k) const {
    std::vector<const OfflineTurn*> applicable;
    for (const auto& t : turns_) {
      bool ok = t.requires_tool.empty();
      for (const auto& spec : offered) ok = ok || spec.name == t.requires_tool;
      if (ok) applicable.push_back(&t);
    }
    OfflineTurn turn;
    if (k < applicable.size()) {
      turn = *applicable[k];
    } else {
      turn.text = "The script has no more turns.";
    }
    return turn;
  }

  // The assistant's answer (without usage); tool calls get ids and raw arguments if missing.
  ModelResponse respond(const OfflineTurn& turn, std::string text) {
    ModelResponse response;
    response.model = name_;
    response.id = fmt::format("offline-{}", ++calls_);
    response.message.role = Role::assistant;
    response.message.text = std::move(text);
    response.message.thinking = turn.thinking;
    int n = 0;
    for (auto call : turn.tool_calls) {
      if (call.id.empty()) call.id = fmt::format("call_offline_{}_{}", calls_, n);
      if (call.raw_arguments.empty()) call.raw_arguments = dump(call.arguments);
      response.message.tool_calls.push_back(std::move(call));
      ++n;
    }
    response.finish_reason =
        response.message.tool_calls.empty() ? FinishReason::stop : FinishReason::tool_calls;
    response.raw_finish_reason = finish_reason_name(response.finish_reason);
    return response;
  }

  std::vector<OfflineTurn> turns_;
  std::string name_;
  std::atomic<std::uint64_t> calls_{0};
};

Result<std::vector<OfflineTurn>> parse_turns(const json& j, std::string_view origin) {
  auto bad = [&](std::string_view what) {
    return fail(ErrorType::invalid_input, fmt::format("offline script {}: {}", origin, what));
  };
  const json* turns = find(j, "turns");
  if (!turns || !turns->is_array()) return bad("expected an object with a \"turns\" array");
  std::vector<OfflineTurn> out;
  std::size_t i = 0;
  for (const auto& t : turns->get_array()) {
    std::string where = fmt::format("/turns/{}", i++);
    if (!t.is_object()) return bad(where + ": expected an object");
    OfflineTurn st;
    for (const auto& kv : t.get_object()) {
      std::string key(kv.key());
      if (key == "text" || key == "thinking" || key == "requires_tool") {
        if (!kv.value().is_string()) return bad(where + "/" + key + ": expected a string");
        std::string v(kv.value().get_string());
        if (key == "text") {
          st.text = v;
        } else if (key == "thinking") {
          st.thinking = v;
        } else {
          st.requires_tool = v;
        }
      } else if (key == "delay_ms") {
        if (!kv.value().is_int64() || kv.value().get_int64() < 0) {
          return bad(where + "/delay_ms: expected a non-negative integer");
        }
        st.delay_ms = static_cast<int>(kv.value().get_int64());
      } else if (key == "tool_calls") {
        if (!kv.value().is_array()) return bad(where + "/tool_calls: expected an array");
        std::size_t c = 0;
        for (const auto& call : kv.value().get_array()) {
          std::string cw = fmt::format("{}/tool_calls/{}", where, c++);
          auto name = get_string(call, "name");
          if (!name || name->empty()) return bad(cw + "/name: expected a non-empty string");
          ToolCall tc;
          tc.name = *name;
          tc.id = get_string_or(call, "id", "");
          if (const json* args = find(call, "arguments")) {
            if (!args->is_object()) return bad(cw + "/arguments: expected an object");
            tc.arguments = *args;
          }
          st.tool_calls.push_back(std::move(tc));
        }
      } else {
        return bad(
            fmt::format("{}: unknown key '{}' (known: text, thinking, tool_calls, "
                        "delay_ms, requires_tool)",
                        where, key));
      }
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace

Result<OfflineScript> parse_offline_script(const json& j, std::string_view origin) {
  auto turns = parse_turns(j, origin);
  if (!turns) return fail(turns.error());
  return OfflineScript{std::move(*turns)};
}

Result<OfflineScript> load_offline_script(std::string_view name_or_path) {
  std::string_view builtin;
  if (name_or_path == "demo") builtin = kDemoScript;
  if (name_or_path == "echo") builtin = kEchoScript;
  if (!builtin.empty()) {
    auto j = parse_json(builtin, "built-in offline script");
    if (!j) return fail(j.error());
    return parse_offline_script(*j, name_or_path);
  }
  std::filesystem::path path(name_or_path);
  std::error_code ec;
  bool looks_like_file = path.extension() == ".json" || std::filesystem::is_regular_file(path, ec);
  if (!looks_like_file) {
    return fail(ErrorType::invalid_input,
                fmt::format("unknown offline script '{}': use test:demo, test:echo or "
                            "test:<path to a .json script>",
                            name_or_path));
  }
  bool ok = false;
  std::string text = read_text_file(path, ok);
  if (!ok) {
    return fail(ErrorType::not_found,
                fmt::format("offline script {} cannot be read", path.string()));
  }
  auto j = parse_json(text, fmt::format("offline script {}", path.string()));
  if (!j) return fail(j.error());
  return parse_offline_script(*j, path.string());
}

std::shared_ptr<ModelClient> make_offline_model(OfflineScript script, std::string model_name) {
  return std::make_shared<OfflineModel>(std::move(script.turns), std::move(model_name));
}

}  // namespace cppflue
