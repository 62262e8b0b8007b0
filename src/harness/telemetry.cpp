// SPDX-License-Identifier: Apache-2.0
// Spans and metrics of operations, model calls and tool calls.
#include "telemetry.hpp"

#include <fmt/format.h>

#include "cppflue/core/error.hpp"
#include "cppflue/core/metrics.hpp"

namespace cppflue::telemetry {

namespace {

constexpr std::size_t kContentBudget = 8 * 1024;

std::string_view provider_part(std::string_view spec) {
  auto colon = spec.find(':');
  return colon == std::string_view::npos ? std::string_view() : spec.substr(0, colon);
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

std::string provider_name(std::string_view model_spec) {
  std::string_view p = provider_part(model_spec);
  if (p == "openai-responses") return "openai";
  if (p == "google" || p == "gemini") return "gcp.gemini";
  if (p == "mistral") return "mistral_ai";
  if (p == "xai") return "x_ai";
  return std::string(p);
}

std::string model_name(std::string_view model_spec) {
  auto colon = model_spec.find(':');
  return std::string(colon == std::string_view::npos ? model_spec : model_spec.substr(colon + 1));
}

trace::Span start_operation(std::string_view agent, std::string_view session_id,
                            std::string_view kind, std::string_view operation_id,
                            std::string_view parent) {
  if (!trace::Tracer::get().recording()) return {};
  std::optional<trace::SpanContext> p;
  if (!parent.empty()) p = trace::parse_traceparent(parent);
  trace::Span s = trace::Span::start(fmt::format("invoke_agent {}", agent),
                                     trace::SpanKind::internal, p ? &*p : nullptr);
  s.set("gen_ai.operation.name", std::string("invoke_agent"));
  s.set("gen_ai.agent.name", std::string(agent));
  s.set("gen_ai.conversation.id", std::string(session_id));
  s.set("cppflue.operation.kind", std::string(kind));
  s.set("cppflue.operation.id", std::string(operation_id));
  return s;
}

void record_operation(std::string_view agent, std::string_view kind,
                      std::chrono::steady_clock::duration elapsed, const Error* error) {
  static auto& count = metrics::registry().counter(
      "cppflue_operations_total",
      "Operations (prompt, skill, task, shell, compact) by agent, kind and outcome.");
  static auto& duration = metrics::registry().histogram(
      "cppflue_operation_duration_seconds", "How long operations took, by agent and kind.",
      metrics::duration_buckets());
  std::string outcome = error == nullptr                      ? "ok"
                        : error->type == ErrorType::cancelled ? "aborted"
                                                              : "error";
  count.inc({{"agent", std::string(agent)}, {"kind", std::string(kind)}, {"outcome", outcome}});
  duration.observe({{"agent", std::string(agent)}, {"kind", std::string(kind)}}, seconds(elapsed));
}

trace::Span start_workflow(std::string_view workflow, std::string_view run_id,
                           std::string_view parent) {
  if (!trace::Tracer::get().recording()) return {};
  std::optional<trace::SpanContext> p;
  if (!parent.empty()) p = trace::parse_traceparent(parent);
  trace::Span s = trace::Span::start(fmt::format("invoke_workflow {}", workflow),
                                     trace::SpanKind::internal, p ? &*p : nullptr);
  s.set("gen_ai.operation.name", std::string("invoke_workflow"));
  s.set("cppflue.workflow.name", std::string(workflow));
  s.set("cppflue.run.id", std::string(run_id));
  return s;
}

trace::Span start_internal(std::string name, const trace::SpanContext& parent,
                           std::string_view session_id) {
  if (!trace::Tracer::get().recording()) return {};
  trace::Span s = trace::Span::start(std::move(name), trace::SpanKind::internal,
                                     parent.valid() ? &parent : nullptr);
  s.set("gen_ai.conversation.id", std::string(session_id));
  return s;
}

trace::Span start_chat(const trace::SpanContext& parent, std::string_view model_spec,
                       std::string_view session_id, bool stream) {
  if (!trace::Tracer::get().recording()) return {};
  std::string model = model_name(model_spec);
  trace::Span s = trace::Span::start(fmt::format("chat {}", model), trace::SpanKind::client,
                                     parent.valid() ? &parent : nullptr);
  s.set("gen_ai.operation.name", std::string("chat"));
  s.set("gen_ai.provider.name", provider_name(model_spec));
  s.set("gen_ai.request.model", model);
  s.set("gen_ai.request.stream", stream);
  s.set("gen_ai.conversation.id", std::string(session_id));
  return s;
}

void end_chat(trace::Span& span, const ModelResponse& r) {
  if (!span.recording()) return;
  if (!r.model.empty()) span.set("gen_ai.response.model", r.model);
  if (!r.id.empty()) span.set("gen_ai.response.id", r.id);
  span.set("gen_ai.response.finish_reasons",
           std::vector<std::string>{r.raw_finish_reason.empty()
                                        ? std::string(finish_reason_name(r.finish_reason))
                                        : r.raw_finish_reason});
  span.set("gen_ai.usage.input_tokens", r.usage.input);
  span.set("gen_ai.usage.output_tokens", r.usage.output);
  span.set("gen_ai.usage.cache_read.input_tokens", r.usage.cache_read);
  span.set("gen_ai.usage.cache_creation.input_tokens", r.usage.cache_write);
  if (r.usage.cost) span.set("cppflue.usage.cost_usd", r.usage.cost->total);
}

trace::Span start_tool(const trace::SpanContext& parent, std::string_view tool,
                       std::string_view call_id, std::string_view session_id) {
  if (!trace::Tracer::get().recording()) return {};
  trace::Span s = trace::Span::start(fmt::format("execute_tool {}", tool),
                                     trace::SpanKind::internal, parent.valid() ? &parent : nullptr);
  s.set("gen_ai.operation.name", std::string("execute_tool"));
  s.set("gen_ai.tool.name", std::string(tool));
  s.set("gen_ai.tool.call.id", std::string(call_id));
  s.set("gen_ai.tool.type", std::string(tool.rfind("mcp__", 0) == 0 ? "extension" : "function"));
  s.set("gen_ai.conversation.id", std::string(session_id));
  return s;
}

void record_tool(std::string_view tool, bool is_error,
                 std::chrono::steady_clock::duration elapsed) {
  static auto& count =
      metrics::registry().counter("cppflue_tool_calls_total", "Tool calls by tool and outcome.");
  static auto& duration = metrics::registry().histogram("cppflue_tool_duration_seconds",
                                                        "How long tool calls took, by tool.",
                                                        metrics::duration_buckets());
  count.inc({{"tool", std::string(tool)}, {"outcome", is_error ? "error" : "ok"}});
  duration.observe({{"tool", std::string(tool)}}, seconds(elapsed));
}

void fail(trace::Span& span, const Error& error, const Redactor* redactor) {
  if (!span.recording()) return;
  std::string message = error.message;
  if (redactor != nullptr && !redactor->empty()) message = redactor->apply(message);
  span.set_error(wire_name(error.type), std::move(message));
}

std::string json_content(json value, const Redactor* redactor) {
  if (redactor != nullptr && !redactor->empty()) redactor->apply(value);
  return content(dump(value), nullptr);
}

std::string messages_content(const std::vector<Message>& messages, const Redactor* redactor) {
  // Newest first until the budget is spent: the work stays bounded however long the session.
  std::vector<json> kept;
  std::size_t size = 0;
  for (auto it = messages.rbegin(); it != messages.rend() && size <= kContentBudget; ++it) {
    json m = to_json(*it);
    if (redactor != nullptr && !redactor->empty()) redactor->apply(m);
    size += dump(m).size();
    kept.push_back(std::move(m));
  }
  json_array out;
  out.reserve(kept.size());
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) out.push_back(std::move(*it));
  return content(dump(out), nullptr);
}

bool capture(const trace::Span& span) {
  return span.recording() && trace::Tracer::get().capture_content();
}

std::string content(std::string text, const Redactor* redactor) {
  if (redactor != nullptr && !redactor->empty()) text = redactor->apply(text);
  if (text.size() <= kContentBudget) return text;
  // Cut at a UTF-8 character boundary.
  std::size_t cut = kContentBudget;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + fmt::format("…[truncated, {} KiB budget]", kContentBudget / 1024);
}

}  // namespace cppflue::telemetry
