// SPDX-License-Identifier: Apache-2.0
// Core-loop scenarios as data: every tests/harness/scenarios/*.yaml is one test case, named
// after its file. A scenario reads like a transcript: what the model answers (scripted
// fake-provider replies, or an offline `test:` model script), the agent options, the prompt, and
// what must happen (events, model requests, final text, workspace files). The format is
// described in tests/harness/scenarios/README.md.
//
// The runner builds a real agent (harness, model client, HTTP client, SSE parser, codecs, SQLite
// store) against the fake provider, once for every wire API and stream mode the scenario lists.
// Every recorded request is also checked against the conversation invariants.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/cppflue.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/fixtures.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

fs::path scenarios_dir() {
  return fs::path(CPPFLUE_SOURCE_DIR) / "tests" / "harness" / "scenarios";
}

// The scenario files, by file name (a string: GoogleTest prints it in failure messages).
std::vector<std::string> scenario_files() {
  std::vector<std::string> out;
  if (fs::is_directory(scenarios_dir())) {
    for (const auto& e : fs::directory_iterator(scenarios_dir())) {
      if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = fs::path(info.param).stem().string();
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

// ---- matching ----

std::string show(const json& v) {
  return dump(v);
}

constexpr std::string_view kContains = "_contains";

// The first difference between `expected` and `actual`, or "" when `actual` matches. Objects
// match when every expected key matches (other keys are ignored); `<key>_contains: "s"` asks
// that the string `<key>` contains "s". Arrays match element by element and must have the same
// length. Numbers match by value, other scalars exactly.
std::string mismatch(const json& expected, const json& actual, const std::string& path) {
  const std::string where = path.empty() ? "value" : path;
  if (expected.is_object()) {
    if (!actual.is_object())
      return fmt::format("{}: expected an object, got {}", where, show(actual));
    for (const auto& kv : expected.get_object()) {
      std::string key(kv.key());
      std::string sub = path.empty() ? key : path + "." + key;
      if (key.size() > kContains.size() && key.ends_with(kContains)) {
        std::string base = key.substr(0, key.size() - kContains.size());
        std::string base_path = path.empty() ? base : path + "." + base;
        const json* a = find(actual, base);
        if (!kv.value().is_string()) return sub + ": a *_contains expectation must be a string";
        if (!a || !a->is_string()) {
          return fmt::format("{}: expected a string containing {}, got {}", base_path,
                             show(kv.value()), a ? show(*a) : "nothing");
        }
        if (a->get_string().find(kv.value().get_string()) == boost::json::string::npos) {
          return fmt::format("{}: {} does not contain {}", base_path, show(*a), show(kv.value()));
        }
        continue;
      }
      const json* a = actual.get_object().if_contains(key);
      if (!a) return fmt::format("{}: missing (expected {})", sub, show(kv.value()));
      if (auto m = mismatch(kv.value(), *a, sub); !m.empty()) return m;
    }
    return "";
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.get_array().size() != expected.get_array().size()) {
      return fmt::format("{}: expected {}, got {}", where, show(expected), show(actual));
    }
    for (std::size_t i = 0; i < expected.get_array().size(); ++i) {
      auto m =
          mismatch(expected.get_array()[i], actual.get_array()[i], fmt::format("{}[{}]", path, i));
      if (!m.empty()) return m;
    }
    return "";
  }
  if (expected.is_number() && actual.is_number()) {
    if (expected.to_number<double>() == actual.to_number<double>()) return "";
  } else if (expected == actual) {
    return "";
  }
  return fmt::format("{}: expected {}, got {}", where, show(expected), show(actual));
}

// Keys of `obj` that are not in `known`, as an error message ("" when there are none): a typo
// in a scenario must fail, not be ignored.
std::string unknown_keys(const json& obj, std::initializer_list<std::string_view> known,
                         std::string_view where) {
  if (!obj.is_object()) return fmt::format("{}: expected a mapping, got {}", where, show(obj));
  std::string bad;
  for (const auto& kv : obj.get_object()) {
    if (std::find(known.begin(), known.end(), std::string_view(kv.key())) == known.end()) {
      bad += (bad.empty() ? "" : ", ") + std::string(kv.key());
    }
  }
  if (bad.empty()) return "";
  std::string allowed;
  for (auto k : known) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
  return fmt::format("{}: unknown key(s) {} (known: {})", where, bad, allowed);
}

// ---- events ----

// An expected event: `tool_end`, or `{type: tool_end, isError: true, ...}` (fields of `data`).
struct ExpectedEvent {
  std::string type;
  json fields = json_object{};
};

ExpectedEvent expected_event(const json& j) {
  ExpectedEvent e;
  if (j.is_string()) {
    e.type = std::string(j.get_string());
    return e;
  }
  e.type = get_string_or(j, "type", "");
  if (j.is_object()) {
    for (const auto& kv : j.get_object()) {
      if (kv.key() != "type") e.fields.as_object()[kv.key()] = kv.value();
    }
  }
  return e;
}

bool matches(const ExpectedEvent& want, const Event& got) {
  return want.type == got.type && mismatch(want.fields, got.data, "").empty();
}

std::string describe(const ExpectedEvent& e) {
  return e.fields.as_object().empty() ? e.type : e.type + " " + show(e.fields);
}

// `got`, with only the fields `want` asks about (so that a row of the table stays short).
std::string describe(const Event& got, const ExpectedEvent* want) {
  json_object shown;
  if (want) {
    for (const auto& kv : want->fields.get_object()) {
      std::string key(kv.key());
      if (key.ends_with(kContains)) key.resize(key.size() - kContains.size());
      if (const json* v = find(got.data, key)) shown[key] = *v;
    }
  }
  return shown.empty() ? got.type : got.type + " " + show(shown);
}

// "" when `got` is `want`; else which event differs first, and both sequences side by side.
std::string event_diff(const std::vector<ExpectedEvent>& want, const std::vector<Event>& got) {
  const std::size_t n = std::max(want.size(), got.size());
  std::optional<std::size_t> first;
  std::string reason;
  std::vector<bool> bad(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    std::string why;
    if (i >= want.size()) {
      why = "an unexpected extra event " + describe(got[i], nullptr);
    } else if (i >= got.size()) {
      why = "the event stream ended; expected " + describe(want[i]);
    } else if (want[i].type != got[i].type) {
      why = fmt::format("expected {}, got {}", want[i].type, got[i].type);
    } else if (auto m = mismatch(want[i].fields, got[i].data, "data"); !m.empty()) {
      why = fmt::format("{}: {}", want[i].type, m);
    }
    if (why.empty()) continue;
    bad[i] = true;
    if (!first) {
      first = i;
      reason = why;
    }
  }
  if (!first) return "";
  std::size_t width = 8;
  for (const auto& w : want) width = std::max(width, describe(w).size());
  width = std::min<std::size_t>(width, 60);
  std::string out = fmt::format("event #{} differs: {}\n", *first, reason);
  out += fmt::format("       {:<{}} | {}\n", "expected", width, "actual");
  for (std::size_t i = 0; i < n; ++i) {
    std::string left = i < want.size() ? describe(want[i]) : "(none)";
    std::string right =
        i < got.size() ? describe(got[i], i < want.size() ? &want[i] : nullptr) : "(none)";
    out += fmt::format("{} #{:<3} {:<{}} | {}\n", bad[i] ? ">>" : "  ", i, left, width, right);
  }
  return out;
}

// ---- the tools a scenario can give the agent ----

class ScenarioTools {
 public:
  ToolDefinition make(const std::string& name) {
    ToolDefinition t;
    t.name = name;
    {
      std::lock_guard lock(mu_);
      runs_[name] = 0;
    }
    if (name == "count") {
      t.description = "Counts the words and characters of a text.";
      t.parameters =
          json_object{{"type", "object"},
                      {"properties", json_object{{"text", json_object{{"type", "string"}}}}},
                      {"required", json_array{"text"}}};
      t.execute = [this](const json& args, ToolContext&) -> json {
        ran("count");
        std::string text(args.at("text").as_string());
        std::istringstream in(text);
        std::int64_t words = 0;
        for (std::string w; in >> w;) ++words;
        return json_object{{"words", words}, {"chars", static_cast<std::int64_t>(text.size())}};
      };
    } else if (name == "fail") {
      t.description = "Always fails, with `message` (default: disk on fire).";
      t.parameters =
          json_object{{"type", "object"},
                      {"properties", json_object{{"message", json_object{{"type", "string"}}}}}};
      t.execute = [this](const json& args, ToolContext&) -> json {
        ran("fail");
        throw std::runtime_error(get_string_or(args, "message", "disk on fire"));
      };
    } else if (name == "slow") {
      t.description = "Waits `ms` milliseconds (default 5000), or until the operation is aborted.";
      t.parameters = json_object{
          {"type", "object"},
          {"properties", json_object{{"ms", json_object{{"type", "integer"}, {"minimum", 0}}}}}};
      t.execute = [this](const json& args, ToolContext& ctx) -> json {
        ran("slow");
        auto ms = get_int(args, "ms").value_or(5000);
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until && !ctx.cancel.cancelled()) {
          std::this_thread::sleep_for(2ms);
        }
        return json(fmt::format("slept {} ms", ms));
      };
    } else {
      throw std::runtime_error("unknown scenario tool '" + name + "' (known: count, fail, slow)");
    }
    return t;
  }

  json runs() {
    std::lock_guard lock(mu_);
    json_object out;
    for (const auto& [name, n] : runs_) out[name] = n;
    return out;
  }

 private:
  void ran(const std::string& name) {
    std::lock_guard lock(mu_);
    ++runs_[name];
  }
  std::mutex mu_;
  std::map<std::string, int> runs_;
};

// ---- one run of a scenario ----

struct Mode {
  std::optional<WireApi> api;  // nullopt: the offline model
  bool stream = false;
  std::string label() const {
    return fmt::format("{}, {}", api ? wire_api_name(*api) : "offline model",
                       stream ? "stream" : "prompt");
  }
};

std::optional<WireApi> api_named(std::string_view name) {
  for (WireApi a :
       {WireApi::openai_chat, WireApi::openai_responses, WireApi::anthropic, WireApi::gemini}) {
    if (wire_api_name(a) == name) return a;
  }
  return std::nullopt;
}

// A scalar or a list of them, as a list.
std::vector<json> one_or_many(const json* v) {
  if (!v) return {};
  if (v->is_array()) return {v->get_array().begin(), v->get_array().end()};
  return {*v};
}

ScriptedTurn scripted_turn(const json& r) {
  ScriptedTurn t;
  t.text = get_string_or(r, "text", "");
  t.thinking = get_string_or(r, "thinking", "");
  if (const json* u = find(r, "usage")) {
    t.usage.input = get_int(*u, "input").value_or(0);
    t.usage.output = get_int(*u, "output").value_or(0);
    t.usage.total_tokens = get_int(*u, "total_tokens").value_or(0);
  }
  if (const json* calls = find(r, "tool_calls"); calls && calls->is_array()) {
    int n = 0;
    for (const auto& c : calls->get_array()) {
      const json* args = find(c, "arguments");
      t.tool_calls.push_back(tool_call(get_string_or(c, "id", fmt::format("call_{}", ++n)),
                                       get_string_or(c, "name", ""),
                                       args ? *args : json(json_object{})));
    }
  }
  return t;
}

// Scripts one reply of `replies:` into the fake provider; "" or what is wrong with it.
std::string enqueue_reply(FakeProvider& fake, WireApi api, bool stream, const json& r,
                          std::size_t i) {
  std::string where = fmt::format("replies[{}]", i);
  if (auto bad =
          unknown_keys(r, {"text", "thinking", "tool_calls", "usage", "error", "delay_ms"}, where);
      !bad.empty()) {
    return bad;
  }
  if (const json* calls = find(r, "tool_calls")) {
    if (!calls->is_array()) return where + ".tool_calls: expected a list";
    for (std::size_t c = 0; c < calls->get_array().size(); ++c) {
      auto bad = unknown_keys(calls->get_array()[c], {"id", "name", "arguments"},
                              fmt::format("{}.tool_calls[{}]", where, c));
      if (!bad.empty()) return bad;
    }
  }
  FakeReply reply;
  if (const json* err = find(r, "error")) {
    if (auto bad = unknown_keys(*err, {"status", "message", "retry_after"}, where + ".error");
        !bad.empty()) {
      return bad;
    }
    reply.status = static_cast<int>(get_int(*err, "status").value_or(500));
    reply.chunks = {error_json(api, reply.status, get_string_or(*err, "message", "error"))};
    if (auto after = get_int(*err, "retry_after")) {
      reply.headers.emplace_back("Retry-After", std::to_string(*after));
    }
  } else if (stream) {
    reply.content_type = "text/event-stream";
    reply.chunks = response_sse(api, scripted_turn(r));
  } else {
    reply.chunks = {response_json(api, scripted_turn(r))};
  }
  reply.initial_delay_ms = static_cast<int>(get_int(r, "delay_ms").value_or(0));
  fake.enqueue(std::move(reply));
  return "";
}

json strings(const std::vector<std::string>& v) {
  json_array out;
  for (const auto& s : v) out.emplace_back(s);
  return out;
}

// A recorded request as the `requests:` expectations see it.
json request_json(const ConversationView& v) {
  json_array messages;
  for (const auto& it : v.items) {
    messages.push_back(json_object{{"role", it.role},
                                   {"text", it.text},
                                   {"call_id", it.call_id},
                                   {"tool_name", it.tool_name},
                                   {"is_error", it.is_error},
                                   {"call_ids", strings(it.call_ids)},
                                   {"call_args", strings(it.call_args)}});
  }
  return json_object{{"system", v.system},
                     {"roles", strings(v.roles())},
                     {"tools", strings(v.tool_names)},
                     {"messages", std::move(messages)}};
}

std::string read_or_empty(const fs::path& p, bool& exists) {
  exists = fs::is_regular_file(p);
  return exists ? read_file(p) : std::string();
}

void run_scenario(const json& sc, const Mode& mode) {
  const json empty = json_object{};
  const json& agent_opts = find(sc, "agent") ? *find(sc, "agent") : empty;
  if (auto bad = unknown_keys(
          agent_opts,
          {"tools", "sandbox", "allow_write", "max_turns", "typed_retries", "instructions"},
          "agent");
      !bad.empty()) {
    FAIL() << bad;
  }
  const json& expect = *find(sc, "expect");

  TempDir dir;
  FakeProvider fake;
  ScenarioTools tools;
  std::mutex mu;
  std::vector<Event> events;
  std::optional<ExpectedEvent> abort_after;
  if (const json* a = find(sc, "abort_after")) abort_after = expected_event(*a);
  std::atomic<bool> abort_reached{false};

  InitOptions o;
  o.root = dir.path().string();
  o.sandbox = get_string_or(agent_opts, "sandbox", "none");
  o.max_task_depth = 0;  // no `task` tool: only the tools the scenario asks for
  o.retry = RetryPolicy{.max_attempts = 4, .base_delay = 1ms, .max_delay = 5ms};
  o.instructions = get_string_or(agent_opts, "instructions", "");
  if (auto w = get_bool(agent_opts, "allow_write")) o.allow_write = *w;
  if (auto t = get_int(agent_opts, "max_turns")) o.max_turns = static_cast<int>(*t);
  for (const auto& name : one_or_many(find(agent_opts, "tools"))) {
    ASSERT_TRUE(name.is_string()) << "agent.tools: expected tool names, got " << show(name);
    try {
      o.tools.push_back(tools.make(std::string(name.get_string())));
    } catch (const std::runtime_error& e) {
      FAIL() << "agent.tools: " << e.what();
    }
  }
  o.on_event = [&](const Event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
    if (abort_after && !abort_reached && matches(*abort_after, e)) {
      abort_reached = true;
    }
  };
  std::string config = "[sandbox]\nisolation = \"none\"\n";
  std::size_t scripted = 0;
  if (mode.api) {
    std::string base = fake.base_url();
    if (mode.api == WireApi::openai_chat || mode.api == WireApi::openai_responses) base += "/v1";
    config += fmt::format(
        "[providers.fake]\napi = \"{}\"\nbase_url = \"{}\"\napi_key = \"sk-test-123\"\n",
        wire_api_name(*mode.api), base);
    o.model = "fake:fake-model";
    const auto& replies = find(sc, "replies")->get_array();
    for (std::size_t i = 0; i < replies.size(); ++i) {
      auto bad = enqueue_reply(fake, *mode.api, mode.stream, replies[i], i);
      ASSERT_TRUE(bad.empty()) << bad;
    }
    scripted = replies.size();
  } else {
    write_file(dir.path() / "script.json", dump(*find(sc, "offline")));
    o.model = "test:" + (dir.path() / "script.json").string();
  }
  write_file(dir.path() / "cppflue.toml", config);

  auto agent = init(std::move(o));
  auto session = agent.session("scenario");
  fs::path workspace = session.workspace_path();
  if (const json* files = find(sc, "workspace")) {
    ASSERT_FALSE(workspace.empty()) << "`workspace:` needs an agent sandbox with files (virtual)";
    for (const auto& kv : files->get_object()) {
      write_file(workspace / std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }

  PromptOptions po;
  if (const json* schema = find(sc, "result_schema")) po.result_schema = *schema;
  if (auto t = get_int(agent_opts, "typed_retries")) po.typed_retries = static_cast<int>(*t);
  const std::string prompt = get_string_or(sc, "prompt", "");
  json outcome = json_object{{"text", nullptr}, {"result", nullptr}, {"error", nullptr}};
  auto fut = std::async(std::launch::async, [&] {
    try {
      PromptResult r = mode.stream ? session.stream(
                                         prompt, [](const Event&) {}, po)
                                   : session.prompt(prompt, po);
      outcome.as_object()["text"] = r.text;
      outcome.as_object()["result"] = r.result;
    } catch (const Exception& e) {
      outcome.as_object()["error"] =
          json_object{{"type", wire_name(e.type())}, {"message", e.what()}};
    } catch (const std::exception& e) {
      outcome.as_object()["error"] = json_object{{"type", "exception"}, {"message", e.what()}};
    }
  });
  if (abort_after) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!abort_reached && fut.wait_for(2ms) != std::future_status::ready &&
           std::chrono::steady_clock::now() < deadline) {
    }
    if (abort_reached) {
      EXPECT_TRUE(session.abort()) << "abort_after: the operation had already finished";
    } else {
      ADD_FAILURE() << "abort_after: no event " << describe(*abort_after) << " arrived";
    }
  }
  if (fut.wait_for(30s) != std::future_status::ready) {
    session.abort();
    ADD_FAILURE() << "the prompt did not finish within 30 s (aborted)";
  }
  fut.get();

  // What the scenario expects besides events and requests, compared key by key.
  if (const json* files = find(expect, "files")) {
    json_object got;
    for (const auto& kv : files->get_object()) {
      bool exists = false;
      std::string content = read_or_empty(workspace / std::string(kv.key()), exists);
      got[kv.key()] = exists ? json(content) : json(nullptr);
    }
    outcome.as_object()["files"] = std::move(got);
  }
  outcome.as_object()["tool_runs"] = tools.runs();
  json_array history;
  for (const auto& m : session.history()) history.emplace_back(role_name(m.role));
  outcome.as_object()["history"] = std::move(history);
  json_object wanted;
  for (const auto& kv : expect.get_object()) {
    if (kv.key() != "events" && kv.key() != "requests" && kv.key() != "deltas") {
      wanted[kv.key()] = kv.value();
    }
  }
  if (!find(expect, "error")) wanted["error"] = nullptr;  // an unexpected failure always fails
  if (auto diff = mismatch(wanted, outcome, "expect"); !diff.empty()) {
    ADD_FAILURE() << diff << "\nthe outcome: " << dump_pretty(outcome);
  }

  // The event sequence.
  std::vector<ExpectedEvent> want;
  for (const auto& e : find(expect, "events")->get_array()) want.push_back(expected_event(e));
  std::vector<Event> got;
  {
    std::lock_guard lock(mu);
    bool deltas = get_bool(expect, "deltas").value_or(false);
    for (const auto& e : events) {
      if (!deltas && (e.type == "text_delta" || e.type == "thinking_delta")) continue;
      got.push_back(e);
    }
  }
  if (auto diff = event_diff(want, got); !diff.empty()) ADD_FAILURE() << "expect.events: " << diff;

  // The model requests.
  if (mode.api) {
    auto recorded = fake.requests();
    EXPECT_EQ(recorded.size(), scripted)
        << "the scenario scripts " << scripted << " replies; the agent made " << recorded.size()
        << " requests";
    json_array views;
    for (std::size_t i = 0; i < recorded.size(); ++i) {
      const auto& r = recorded[i];
      ASSERT_FALSE(r.json_body.is_null()) << "request " << i << " is not JSON: " << r.body;
      auto v = view_request(*mode.api, r.json_body, r.target);
      EXPECT_EQ(check_invariants(v), "") << "request " << i << ": " << dump(r.json_body);
      EXPECT_EQ(v.stream, mode.stream) << "request " << i;
      views.push_back(request_json(v));
    }
    if (const json* reqs = find(expect, "requests")) {
      std::string roles;
      for (const auto& v : views) roles += "\n  " + show(*find(v, "roles"));
      EXPECT_EQ(reqs->get_array().size(), views.size())
          << "expected " << reqs->get_array().size() << " model requests, the agent made "
          << views.size() << "; their roles:" << roles;
      for (std::size_t i = 0; i < std::min(views.size(), reqs->get_array().size()); ++i) {
        auto diff = mismatch(reqs->get_array()[i], views[i], fmt::format("expect.requests[{}]", i));
        if (!diff.empty())
          ADD_FAILURE() << diff << "\nrequest " << i << ": " << dump_pretty(views[i]);
      }
    }
  }
}

// What is wrong with the shape of a scenario ("" when nothing).
std::string check_shape(const json& sc) {
  if (auto bad = unknown_keys(sc,
                              {"description", "prompt", "stream", "apis", "replies", "offline",
                               "agent", "workspace", "result_schema", "abort_after", "expect"},
                              "scenario");
      !bad.empty()) {
    return bad;
  }
  if (!find(sc, "prompt")) return "scenario: `prompt` is missing";
  bool replies = find(sc, "replies") && find(sc, "replies")->is_array();
  bool offline = find(sc, "offline") != nullptr;
  if (replies == offline) return "scenario: give exactly one of `replies:` (a list) and `offline:`";
  if (offline && find(sc, "apis")) return "scenario: `apis` is for `replies:` (the fake provider)";
  const json* expect = find(sc, "expect");
  if (!expect) return "scenario: `expect` is missing";
  if (auto bad = unknown_keys(*expect,
                              {"events", "deltas", "requests", "text", "text_contains", "result",
                               "error", "files", "tool_runs", "history"},
                              "expect");
      !bad.empty()) {
    return bad;
  }
  if (!find(*expect, "events") || !find(*expect, "events")->is_array()) {
    return "expect: `events` (a list) is missing: every scenario states its event sequence";
  }
  if (offline && find(*expect, "requests")) {
    return "expect: `requests` can only be checked against the fake provider (`replies:`)";
  }
  if (const json* r = find(*expect, "requests"); r && !r->is_array()) {
    return "expect: `requests` must be a list";
  }
  return "";
}

class ScenarioFile : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioFile, Runs) {
  const fs::path path = scenarios_dir() / GetParam();
  json sc = load_yaml_file(path);
  auto shape = check_shape(sc);
  ASSERT_TRUE(shape.empty()) << path.string() << ": " << shape;

  std::vector<Mode> modes;
  auto streams = one_or_many(find(sc, "stream"));
  if (streams.empty()) streams.emplace_back(false);
  std::vector<std::optional<WireApi>> apis;
  if (find(sc, "offline")) {
    apis.emplace_back(std::nullopt);
  } else {
    auto names = one_or_many(find(sc, "apis"));
    if (names.empty()) names.emplace_back("openai-chat");
    for (const auto& n : names) {
      auto api = n.is_string() ? api_named(n.get_string()) : std::nullopt;
      ASSERT_TRUE(api.has_value()) << "apis: unknown wire API " << show(n)
                                   << " (known: openai-chat, openai-responses, anthropic, gemini)";
      apis.push_back(api);
    }
  }
  for (const auto& api : apis) {
    for (const auto& s : streams) {
      ASSERT_TRUE(s.is_bool()) << "stream: expected true, false or a list of them";
      modes.push_back(Mode{api, s.as_bool()});
    }
  }
  for (std::size_t i = 0; i < modes.size(); ++i) {
    {
      SCOPED_TRACE(fmt::format("{} [{}]", path.filename().string(), modes[i].label()));
      run_scenario(sc, modes[i]);
    }
    if (HasFailure()) {
      // The other modes would most likely repeat the same failure: stop at the first one.
      std::string rest;
      for (std::size_t j = i + 1; j < modes.size(); ++j) {
        rest += (rest.empty() ? "" : "; ") + modes[j].label();
      }
      if (!rest.empty()) fmt::print(stderr, "(not run after the failure: {})\n", rest);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioFile, ::testing::ValuesIn(scenario_files()), test_name);

// The runner's own checks: a scenario that does not match must fail, saying where.
TEST(ScenarioRunner, EventDiffPointsAtTheFirstDifference) {
  std::vector<ExpectedEvent> want{
      expected_event(json("operation_start")),
      expected_event(json_object{{"type", "tool_end"}, {"isError", true}}),
      expected_event(json("idle"))};
  std::vector<Event> got{Event{"operation_start", json_object{{"session_id", "s"}}},
                         Event{"tool_end", json_object{{"isError", false}, {"toolName", "t"}}},
                         Event{"idle", json_object{}}};
  std::string diff = event_diff(want, got);
  EXPECT_NE(diff.find("event #1 differs: tool_end: data.isError: expected true, got false"),
            std::string::npos)
      << diff;
  EXPECT_NE(diff.find(">> #1   tool_end {\"isError\":true}"), std::string::npos) << diff;
  EXPECT_NE(diff.find("| tool_end {\"isError\":false}"), std::string::npos) << diff;
  got[1].data.as_object()["isError"] = true;
  EXPECT_EQ(event_diff(want, got), "");
  got.pop_back();
  EXPECT_NE(event_diff(want, got).find("the event stream ended; expected idle"), std::string::npos);
}

TEST(ScenarioRunner, MatchingIsBySubsetWithContains) {
  json actual = json_object{{"text", "tool 'fail' failed: disk on fire"},
                            {"roles", json_array{"user", "assistant"}},
                            {"n", 3}};
  EXPECT_EQ(mismatch(json_object{{"text_contains", "disk on fire"}, {"n", 3.0}}, actual, ""), "");
  EXPECT_EQ(mismatch(json_object{{"roles", json_array{"user"}}}, actual, ""),
            R"(roles: expected ["user"], got ["user","assistant"])");
  EXPECT_EQ(mismatch(json_object{{"text_contains", "water"}}, actual, ""),
            R"(text: "tool 'fail' failed: disk on fire" does not contain "water")");
  EXPECT_EQ(mismatch(json_object{{"missing", 1}}, actual, ""), "missing: missing (expected 1)");
}

}  // namespace
