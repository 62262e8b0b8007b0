// SPDX-License-Identifier: Apache-2.0
// Traces end to end: the real `cppflue run` and `cppflue serve` export OTLP/JSON to a receiver
// on 127.0.0.1, for a prompt whose model (a fake OpenAI-compatible provider) calls two tools at
// once. Checked: span names, kinds, parent links, the GenAI attributes, the caller's trace id
// (TRACEPARENT, the traceparent header, a dispatched input), the traceparent sent to the model,
// no content unless opted in, and secrets redacted when it is.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <thread>

#include "server/serve_util.hpp"
#include "support/fake_provider.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

namespace cppflue {
namespace {

using namespace std::chrono_literals;
using testing::FakeProvider;
using testing::FakeReply;
using testing::TempDir;
using testing::write_file;

constexpr const char* kSecret = "sk-secret-4242";
constexpr const char* kCaller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr const char* kCallerTrace = "0af7651916cd43dd8448eb211c80319c";

struct SpanRecord {
  std::string name;
  int kind = 0;
  std::string trace_id;
  std::string span_id;
  std::string parent_id;
  int status_code = 0;
  std::map<std::string, json> attributes;  // the value object's only member's value
  std::vector<std::string> events;         // their names
  bool has(const std::string& key) const { return attributes.count(key) != 0; }
  std::string text(const std::string& key) const {
    auto it = attributes.find(key);
    if (it == attributes.end()) return "";
    return it->second.is_string() ? std::string(it->second.as_string()) : dump(it->second);
  }
};

std::vector<SpanRecord> received_spans(const FakeProvider& receiver) {
  std::vector<SpanRecord> out;
  for (const auto& req : receiver.requests()) {
    EXPECT_EQ(req.target, "/v1/traces");
    EXPECT_EQ(req.header("content-type").value_or(""), "application/json");
    if (!req.json_body.is_object()) continue;
    for (const auto& rs : req.json_body.at("resourceSpans").as_array()) {
      for (const auto& ss : rs.at("scopeSpans").as_array()) {
        for (const auto& s : ss.at("spans").as_array()) {
          SpanRecord r;
          r.name = std::string(s.at("name").as_string());
          r.kind = static_cast<int>(s.at("kind").to_number<int>());
          r.trace_id = std::string(s.at("traceId").as_string());
          r.span_id = std::string(s.at("spanId").as_string());
          if (const json* p = find(s, "parentSpanId")) r.parent_id = std::string(p->as_string());
          if (const json* st = find(s, "status")) r.status_code = st->at("code").to_number<int>();
          if (const json* ev = find(s, "events")) {
            for (const auto& e : ev->as_array()) r.events.emplace_back(e.at("name").as_string());
          }
          for (const auto& a : s.at("attributes").as_array()) {
            const auto& v = a.at("value").as_object();
            r.attributes[std::string(a.at("key").as_string())] = v.begin()->value();
          }
          out.push_back(std::move(r));
        }
      }
    }
  }
  return out;
}

const SpanRecord* named(const std::vector<SpanRecord>& spans, const std::string& name) {
  for (const auto& s : spans) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string all_text(const std::vector<SpanRecord>& spans) {
  std::string out;
  for (const auto& s : spans) {
    for (const auto& [k, v] : s.attributes)
      out += k + "=" + (v.is_string() ? std::string(v.as_string()) : dump(v)) + "\n";
  }
  return out;
}

class TelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_.set_default(FakeReply{200, "application/json", {}, {"{}"}});
    write_file(dir_.path() / "cppflue.toml",
               fmt::format(R"([agent]
model = "mine:gpt-test"

[providers.mine]
api = "openai-chat"
base_url = "{}/v1"
api_key = "k"

[sandbox]
workspace = "{}"

[secrets]
token = {{ value = "{}" }}
)",
                           model_.base_url(), dir_.path().string(), kSecret));
    write_file(dir_.path() / "notes" / "a.txt", std::string("the token is ") + kSecret + "\n");
    write_file(dir_.path() / ".agents/agents/helper.md",
               "---\nname: helper\ndescription: helps\n---\nYou help.\n");
  }

  // The model: two tool calls at once (read and glob), then an answer. (The server asks without
  // streaming.)
  void script_turns(bool stream = true) {
    model_.enqueue_turn(
        WireApi::openai_chat,
        testing::calls_turn({testing::raw_tool_call("c1", "read", R"({"path":"notes/a.txt"})"),
                             testing::raw_tool_call("c2", "glob", R"({"pattern":"notes/*"})")}),
        stream);
    model_.enqueue_turn(WireApi::openai_chat, testing::text_turn("Done reading."), stream);
  }

  std::vector<std::string> env(bool content) const {
    std::vector<std::string> e{"OTEL_EXPORTER_OTLP_ENDPOINT=" + receiver_.base_url(),
                               "OTEL_SERVICE_NAME=telemetry-test"};
    if (content) e.push_back("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true");
    return e;
  }
  static std::vector<std::string> scrubbed() {
    return {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_SDK_DISABLED",
            "OTEL_TRACES_SAMPLER",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "TRACEPARENT",
            "CPPFLUE_MODEL",
            "OPENAI_API_KEY",
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY"};
  }

  // Checks the tree of one prompt: invoke_agent > 2 x chat, 2 x execute_tool, under `trace`.
  void check_tree(const std::vector<SpanRecord>& spans, const std::string& agent,
                  const std::string& trace, const std::string& caller_span) {
    const SpanRecord* op = named(spans, "invoke_agent " + agent);
    ASSERT_NE(op, nullptr) << all_text(spans);
    EXPECT_EQ(op->kind, 1);
    EXPECT_EQ(op->trace_id, trace);
    EXPECT_EQ(op->parent_id, caller_span);
    EXPECT_EQ(op->text("gen_ai.operation.name"), "invoke_agent");
    EXPECT_EQ(op->text("gen_ai.agent.name"), agent);
    const std::string session = op->text("gen_ai.conversation.id");
    EXPECT_FALSE(session.empty());
    int chats = 0;
    for (const auto& s : spans) {
      if (s.name != "chat gpt-test") continue;
      ++chats;
      EXPECT_EQ(s.kind, 3) << "CLIENT";
      EXPECT_EQ(s.parent_id, op->span_id);
      EXPECT_EQ(s.trace_id, trace);
      EXPECT_EQ(s.text("gen_ai.operation.name"), "chat");
      EXPECT_EQ(s.text("gen_ai.provider.name"), "mine");
      EXPECT_EQ(s.text("gen_ai.request.model"), "gpt-test");
      EXPECT_EQ(s.text("gen_ai.request.stream"), "true");
      EXPECT_EQ(s.text("gen_ai.conversation.id"), session);
      EXPECT_TRUE(s.has("gen_ai.response.finish_reasons"));
      EXPECT_TRUE(s.has("gen_ai.response.time_to_first_chunk"));
      for (const char* k :
           {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
            "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens"}) {
        EXPECT_TRUE(s.has(k)) << k;
      }
    }
    EXPECT_EQ(chats, 2);
    for (const char* tool : {"read", "glob"}) {
      const SpanRecord* t = named(spans, std::string("execute_tool ") + tool);
      ASSERT_NE(t, nullptr) << tool;
      EXPECT_EQ(t->kind, 1);
      EXPECT_EQ(t->parent_id, op->span_id);
      EXPECT_EQ(t->trace_id, trace);
      EXPECT_EQ(t->text("gen_ai.tool.name"), tool);
      EXPECT_EQ(t->text("gen_ai.tool.type"), "function");
      EXPECT_EQ(t->text("gen_ai.tool.call.id"), std::string(tool) == "read" ? "c1" : "c2");
      EXPECT_EQ(t->status_code, 0);
    }
    // The model calls carried the chat span's context.
    std::set<std::string> chat_ids;
    for (const auto& s : spans) {
      if (s.name == "chat gpt-test") chat_ids.insert(s.span_id);
    }
    for (const auto& req : model_.requests()) {
      std::string tp = req.header("traceparent").value_or("");
      ASSERT_EQ(tp.size(), 55u) << tp;
      EXPECT_EQ(tp.substr(3, 32), trace);
      EXPECT_EQ(chat_ids.count(tp.substr(36, 16)), 1u) << tp;
    }
  }

  TempDir dir_;
  FakeProvider model_;
  FakeProvider receiver_;
};

TEST_F(TelemetryTest, RunExportsTheTreeOfAPromptUnderTheCallersTrace) {
  script_turns();
  auto e = env(false);
  e.push_back(std::string("TRACEPARENT=") + kCaller);
  auto r = testing::run_cli(dir_.path(), {"run", "-p", std::string("read with ") + kSecret}, e,
                            scrubbed(), CPPFLUE_BINARY);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // Delivered before the command returned.
  auto spans = received_spans(receiver_);
  ASSERT_EQ(spans.size(), 5u) << all_text(spans);
  check_tree(spans, "default", kCallerTrace, "b7ad6b7169203331");
  // No content by default.
  for (const auto& s : spans) {
    for (const char* k :
         {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
          "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}) {
      EXPECT_FALSE(s.has(k)) << s.name << " has " << k;
    }
  }
  EXPECT_EQ(all_text(spans).find("notes/a.txt"), std::string::npos);
  // The resource names the service.
  auto requests = receiver_.requests();
  json resource = requests.at(0).json_body.at("resourceSpans").at(0).at("resource");
  EXPECT_NE(dump(resource).find("telemetry-test"), std::string::npos) << dump(resource);
}

TEST_F(TelemetryTest, ContentIsRecordedOnlyWhenAskedForAndWithoutSecrets) {
  script_turns();
  auto r = testing::run_cli(dir_.path(),
                            {"run", "--secret", "token", "-p", std::string("read with ") + kSecret},
                            env(true), scrubbed(), CPPFLUE_BINARY);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto spans = received_spans(receiver_);
  ASSERT_EQ(spans.size(), 5u) << all_text(spans);
  const SpanRecord* first = nullptr;
  for (const auto& s : spans) {
    if (s.name == "chat gpt-test" && !first) first = &s;
  }
  ASSERT_NE(first, nullptr);
  EXPECT_NE(first->text("gen_ai.input.messages").find("read with"), std::string::npos);
  EXPECT_FALSE(first->text("gen_ai.system_instructions").empty());
  const SpanRecord* read = named(spans, "execute_tool read");
  ASSERT_NE(read, nullptr);
  EXPECT_NE(read->text("gen_ai.tool.call.arguments").find("notes/a.txt"), std::string::npos);
  EXPECT_NE(read->text("gen_ai.tool.call.result").find("the token is"), std::string::npos);
  // The granted secret is in the prompt and in the file read: on no span.
  EXPECT_EQ(all_text(spans).find(kSecret), std::string::npos) << all_text(spans);
}

TEST_F(TelemetryTest, ServeJoinsTheTraceOfTheRequestAndOfADispatchedInput) {
  script_turns(false);
  std::map<std::string, std::string> env{{"OTEL_EXPORTER_OTLP_ENDPOINT", receiver_.base_url()}};
  serve_testing::ServeProcess server(dir_.path(), {}, env);
  ASSERT_GT(server.port(), 0) << server.output();
  auto res = serve_testing::call(server.port(), "POST", "/agents/helper/u1",
                                 R"({"message":"read the notes"})", "application/json",
                                 std::string("traceparent: ") + kCaller + "\r\n");
  ASSERT_EQ(res.status, 200) << res.body;
  // A dispatched input runs later, on a worker: it joins the trace it was queued in.
  const std::string queued = "00-11111111111111111111111111111111-2222222222222222-01";
  script_turns(false);
  auto accepted = serve_testing::call(server.port(), "POST", "/agents/helper/u2/dispatch",
                                      R"({"input":"read again"})", "application/json",
                                      "traceparent: " + queued + "\r\n");
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  std::vector<SpanRecord> spans;
  for (int i = 0; i < 200 && spans.size() < 10; ++i) {
    std::this_thread::sleep_for(50ms);
    spans = received_spans(receiver_);
  }
  ASSERT_EQ(spans.size(), 10u) << all_text(spans) << server.output();
  std::vector<SpanRecord> first, second;
  for (auto& s : spans) (s.trace_id == kCallerTrace ? first : second).push_back(s);
  ASSERT_EQ(first.size(), 5u);
  ASSERT_EQ(second.size(), 5u);
  EXPECT_EQ(second.front().trace_id, "11111111111111111111111111111111");
  // (check_tree compares the model's requests with the spans given: one prompt at a time.)
  EXPECT_EQ(named(first, "invoke_agent helper")->parent_id, "b7ad6b7169203331");
  EXPECT_EQ(named(second, "invoke_agent helper")->parent_id, "2222222222222222");
  EXPECT_EQ(named(first, "invoke_agent helper")->text("gen_ai.conversation.id"), "u1:default");
  for (const auto* group : {&first, &second}) {
    EXPECT_NE(named(*group, "execute_tool read"), nullptr);
    EXPECT_NE(named(*group, "execute_tool glob"), nullptr);
  }
  // A WebSocket's prompts join the trace of its upgrade request.
  const std::string socket_parent = "00-33333333333333333333333333333333-4444444444444444-01";
  script_turns(false);
  {
    serve_testing::WsClient ws(server.port(), "/agents/helper/u4",
                               "traceparent: " + socket_parent + "\r\n");
    ASSERT_EQ(ws.status(), 101);
    ASSERT_TRUE(ws.send_text(R"({"type":"prompt","message":"read over a socket"})"));
    auto reply = ws.read_text();
    ASSERT_TRUE(reply) << server.output();
    EXPECT_NE(reply->find("\"result\""), std::string::npos) << *reply;
  }
  std::optional<SpanRecord> socket_op;
  for (int i = 0; i < 200 && !socket_op; ++i) {
    std::this_thread::sleep_for(50ms);
    for (const auto& s : received_spans(receiver_)) {
      if (s.name == "invoke_agent helper" && s.trace_id == "33333333333333333333333333333333") {
        socket_op = s;
      }
    }
  }
  ASSERT_TRUE(socket_op) << all_text(received_spans(receiver_));
  EXPECT_EQ(socket_op->parent_id, "4444444444444444");
  EXPECT_EQ(socket_op->text("gen_ai.conversation.id"), "u4:default");

  // A malformed traceparent starts a trace of its own rather than failing the request.
  script_turns(false);
  auto odd =
      serve_testing::call(server.port(), "POST", "/agents/helper/u3", R"({"message":"again"})",
                          "application/json", "traceparent: 00-zz-yy-01\r\n");
  EXPECT_EQ(odd.status, 200) << odd.body;
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(TelemetryTest, ShellCommandsAndWorkflowRunsHaveTheirSpans) {
  // A bash call (jail off for the test: what is checked is the span, not the sandbox).
  write_file(dir_.path() / "cppflue.toml",
             fmt::format("[agent]\nmodel = \"mine:gpt-test\"\n[providers.mine]\napi = "
                         "\"openai-chat\"\nbase_url = \"{}/v1\"\napi_key = \"k\"\n[sandbox]\n"
                         "workspace = \"{}\"\nisolation = \"none\"\n",
                         model_.base_url(), dir_.path().string()));
  model_.enqueue_turn(
      WireApi::openai_chat,
      testing::calls_turn({testing::raw_tool_call("c9", "bash", R"({"command":"echo hi"})")}),
      true);
  model_.enqueue_turn(WireApi::openai_chat, testing::text_turn("Said hi."), true);
  auto r = testing::run_cli(dir_.path(), {"run", "--allow-shell", "-p", "say hi"}, env(false),
                            scrubbed(), CPPFLUE_BINARY);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto spans = received_spans(receiver_);
  const SpanRecord* tool = named(spans, "execute_tool bash");
  const SpanRecord* command = named(spans, "execute_command");
  ASSERT_NE(tool, nullptr) << all_text(spans);
  ASSERT_NE(command, nullptr) << all_text(spans);
  EXPECT_EQ(command->parent_id, tool->span_id);
  EXPECT_EQ(command->text("cppflue.command.name"), "echo");
  EXPECT_EQ(command->text("process.exit.code"), "0");
  EXPECT_FALSE(command->has("process.command_line"));  // content: only when asked for

  // A workflow run of a compiled application: invoke_workflow under the caller, the agents it
  // builds under the run.
  TempDir app_dir;
  write_file(app_dir.path() / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  FakeProvider receiver;
  receiver.set_default(FakeReply{200, "application/json", {}, {"{}"}});
  auto w = testing::run_cli(
      app_dir.path(), {"run", "greet", "--payload", R"({"name":"Ada"})"},
      {"OTEL_EXPORTER_OTLP_ENDPOINT=" + receiver.base_url(), std::string("TRACEPARENT=") + kCaller},
      scrubbed(), CPPFLUE_TEST_APP);
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  auto run_spans = received_spans(receiver);
  const SpanRecord* workflow = named(run_spans, "invoke_workflow greet");
  ASSERT_NE(workflow, nullptr) << all_text(run_spans);
  EXPECT_EQ(workflow->trace_id, kCallerTrace);
  EXPECT_EQ(workflow->parent_id, "b7ad6b7169203331");
  EXPECT_EQ(workflow->text("gen_ai.operation.name"), "invoke_workflow");
  EXPECT_EQ(workflow->text("cppflue.run.id").rfind("run_", 0), 0u);
  const SpanRecord* op = named(run_spans, "invoke_agent greet");
  ASSERT_NE(op, nullptr) << all_text(run_spans);
  EXPECT_EQ(op->parent_id, workflow->span_id);
  EXPECT_EQ(op->trace_id, kCallerTrace);
  const SpanRecord* glob = named(run_spans, "execute_tool glob");
  ASSERT_NE(glob, nullptr);
  EXPECT_EQ(glob->parent_id, op->span_id);
}

TEST_F(TelemetryTest, RetriesAreEventsOfTheChatSpanAndFailuresSetItsStatus) {
  model_.enqueue_error(WireApi::openai_chat, 503, "overloaded", {{"Retry-After", "0"}});
  model_.enqueue_turn(WireApi::openai_chat, testing::text_turn("Fine now."), true);
  auto ok =
      testing::run_cli(dir_.path(), {"run", "-p", "hi"}, env(false), scrubbed(), CPPFLUE_BINARY);
  ASSERT_EQ(ok.code, 0) << ok.out << ok.err;
  auto spans = received_spans(receiver_);
  const SpanRecord* chat = named(spans, "chat gpt-test");
  ASSERT_NE(chat, nullptr) << all_text(spans);
  EXPECT_EQ(chat->events, std::vector<std::string>{"gen_ai.client.retry"});
  EXPECT_EQ(chat->status_code, 0);

  // A provider error that is not retried: the chat span and the operation fail with its type,
  // and the secret the error text repeats is redacted.
  FakeProvider receiver;
  receiver.set_default(FakeReply{200, "application/json", {}, {"{}"}});
  model_.enqueue_error(WireApi::openai_chat, 400, std::string("bad request near ") + kSecret);
  auto failed = testing::run_cli(dir_.path(), {"run", "--secret", "token", "-p", "hi"},
                                 {"OTEL_EXPORTER_OTLP_ENDPOINT=" + receiver.base_url()}, scrubbed(),
                                 CPPFLUE_BINARY);
  EXPECT_EQ(failed.code, 1);
  auto failed_spans = received_spans(receiver);
  const SpanRecord* bad_chat = named(failed_spans, "chat gpt-test");
  const SpanRecord* op = named(failed_spans, "invoke_agent default");
  ASSERT_NE(bad_chat, nullptr) << all_text(failed_spans);
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(bad_chat->status_code, 2);
  EXPECT_EQ(bad_chat->text("error.type"), "provider_error");
  EXPECT_EQ(op->status_code, 2);
  auto requests = receiver.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].body.find(kSecret), std::string::npos) << requests[0].body;
}

TEST_F(TelemetryTest, ACollectorThatIsDownDoesNotFailOrHoldUpTheRun) {
  script_turns();
  auto r = testing::run_cli(
      dir_.path(), {"run", "-p", "read"},
      {"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" + std::to_string(testing::closed_port()),
       "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"},
      scrubbed(), CPPFLUE_BINARY);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Done reading."), std::string::npos) << r.out;
  // The unsupported protocol is named, not silently ignored.
  EXPECT_NE(r.err.find("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cppflue
