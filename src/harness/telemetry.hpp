// SPDX-License-Identifier: Apache-2.0
// The harness's spans and metrics (telemetry.cpp): names and attributes after the OpenTelemetry
// GenAI semantic conventions, content only when capture is on (redacted, size-bounded), and the
// Prometheus series of operations and tool calls.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cppflue/core/redact.hpp"
#include "cppflue/core/trace.hpp"
#include "cppflue/model/message.hpp"

namespace cppflue::telemetry {

// "gen_ai.provider.name" for the provider part of a "provider:model" string (openai,
// anthropic, gcp.gemini, mistral_ai, x_ai, ...; others as they are).
std::string provider_name(std::string_view model_spec);
// The model part of "provider:model".
std::string model_name(std::string_view model_spec);

// `invoke_agent {agent}` for one operation, under `parent` (a W3C traceparent; "" for none).
trace::Span start_operation(std::string_view agent, std::string_view session_id,
                            std::string_view kind, std::string_view operation_id,
                            std::string_view parent);
// The operation's metrics (cppflue_operations_total, cppflue_operation_duration_seconds).
void record_operation(std::string_view agent, std::string_view kind,
                      std::chrono::steady_clock::duration elapsed, const Error* error);

// `invoke_workflow {name}` for one workflow run, under `parent` ("" for none).
trace::Span start_workflow(std::string_view workflow, std::string_view run_id,
                           std::string_view parent);

// A span of the harness's own work (`compaction`, `execute_command {name}`) under `parent`.
trace::Span start_internal(std::string name, const trace::SpanContext& parent,
                           std::string_view session_id);

// `chat {model}` for one model call.
trace::Span start_chat(const trace::SpanContext& parent, std::string_view model_spec,
                       std::string_view session_id, bool stream);
// The answer's attributes: response model, id, finish reason, token usage, cost.
void end_chat(trace::Span& span, const ModelResponse& response);

// `execute_tool {tool}`.
trace::Span start_tool(const trace::SpanContext& parent, std::string_view tool,
                       std::string_view call_id, std::string_view session_id);
// cppflue_tool_calls_total and cppflue_tool_duration_seconds.
void record_tool(std::string_view tool, bool is_error, std::chrono::steady_clock::duration elapsed);

// Status ERROR from `error`: its wire type as error.type, its message with the known secrets
// redacted (a provider's error text may repeat what it was sent).
void fail(trace::Span& span, const Error& error, const Redactor* redactor);

// The most recent of `messages` as JSON text within the content budget, each redacted as a
// value before it is written out (so escaping cannot hide a secret from the redactor).
std::string messages_content(const std::vector<Message>& messages, const Redactor* redactor);
// One value the same way.
std::string json_content(json value, const Redactor* redactor);

// Whether content may go on spans (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT or
// [telemetry] capture_content) for a span that records.
bool capture(const trace::Span& span);
// `text` with the known secrets redacted and cut to the per-attribute budget (8 KiB).
std::string content(std::string text, const Redactor* redactor);

}  // namespace cppflue::telemetry
