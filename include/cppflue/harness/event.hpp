// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/event.hpp — what an agent reports while it works (docs/reference/events.md).
//
// Every event has a `type` and a `data` object holding its fields, including the common ones
// (`session_id`, `operation_id` while an operation runs, `timestamp`, `instance_id`/`run_id`
// when known). `to_json` gives the wire form {"type": ..., ...fields} used by the CLI's
// `--stream` output, SSE and WebSocket.
//
// The catalogue below has one type per event. Each member is a field of the event, under the
// member's name on the wire (the mixed camelCase is the wire's, kept from Flue). Read an event
// back with `event_as`:
//
//   if (auto tool = cppflue::event_as<cppflue::events::ToolEnd>(e); tool && tool->isError) ...
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {

struct Event {
  std::string type;
  json data = json_object{};
};

json to_json(const Event& e);

using EventCallback = std::function<void(const Event&)>;

namespace events {

// ---- Session events: one operation (prompt, stream, skill, task, shell, compact) ----------
struct OperationStart {
  static constexpr std::string_view type = "operation_start";
  std::string operation_kind;
};
struct AgentStart {
  static constexpr std::string_view type = "agent_start";
};
struct TurnRequest {
  static constexpr std::string_view type = "turn_request";
  std::string turn_id;
  std::string model;
};
struct TextDelta {
  static constexpr std::string_view type = "text_delta";
  std::string text;
};
struct ThinkingDelta {
  static constexpr std::string_view type = "thinking_delta";
  std::string text;
};
struct Turn {
  static constexpr std::string_view type = "turn";
  std::string turn_id;
  std::string model;
  json usage;  // input, output, cache_read, cache_write, total_tokens, cost{...}
};
struct ToolStart {
  static constexpr std::string_view type = "tool_start";
  std::string toolName;
  std::string toolCallId;
  json args;
};
struct ToolEnd {
  static constexpr std::string_view type = "tool_end";
  std::string toolName;
  std::string toolCallId;
  bool isError = false;
  std::string result;
};
struct CommandStart {
  static constexpr std::string_view type = "command_start";
  std::string command;
  std::vector<std::string> args;
};
struct CommandEnd {
  static constexpr std::string_view type = "command_end";
  std::string command;
  std::int64_t exitCode = 0;  // 124 timeout, 128+N signal N, -1 not run
};
struct TaskStart {
  static constexpr std::string_view type = "task_start";
  std::string taskId;
  std::string prompt;
  std::string role;
  std::string cwd;
  std::string parentSessionId;
};
struct TaskEnd {
  static constexpr std::string_view type = "task_end";
  std::string taskId;
  bool isError = false;
  std::string result;
};
struct CompactionStart {
  static constexpr std::string_view type = "compaction_start";
  std::string reason;  // threshold, overflow, manual
  std::int64_t estimatedTokens = 0;
};
struct CompactionEnd {
  static constexpr std::string_view type = "compaction_end";
  std::int64_t messagesBefore = 0;
  std::int64_t messagesAfter = 0;
};
struct TurnEnd {
  static constexpr std::string_view type = "turn_end";
};
struct AbortRequested {
  static constexpr std::string_view type = "abort_requested";
  std::string operation;
};
struct Aborted {
  static constexpr std::string_view type = "aborted";
  std::string operation;
};
struct Failed {
  static constexpr std::string_view type = "error";
  std::string message;
  std::string error_type;  // as in the HTTP error envelope: invalid_input, provider_error, ...
};
struct Idle {
  static constexpr std::string_view type = "idle";
};
struct OperationEnd {
  static constexpr std::string_view type = "operation";
  std::string operation_kind;
  std::int64_t duration_ms = 0;
  bool is_error = false;
};

// ---- Run events: a stored workflow run or background agent prompt --------------------------
struct RunStart {
  static constexpr std::string_view type = "run_start";
  std::string run_id;
  std::optional<std::string> workflow;    // workflow runs
  std::optional<std::string> agent;       // background agent runs
  std::optional<std::string> agent_id;    // background agent runs
  std::optional<std::string> session_id;  // background agent runs
};
struct Log {
  static constexpr std::string_view type = "log";
  std::string level;  // info, warn, error
  std::string message;
  json_object fields;  // merged into the event's fields on the wire
};
struct RunEnd {
  static constexpr std::string_view type = "run_end";
  std::string run_id;
  std::string status;  // completed, failed, aborted
  bool is_error = false;
  json result;
  json error;  // {"type", "message"} or null
};

}  // namespace events

using EventPayload =
    std::variant<events::OperationStart, events::AgentStart, events::TurnRequest,
                 events::TextDelta, events::ThinkingDelta, events::Turn, events::ToolStart,
                 events::ToolEnd, events::CommandStart, events::CommandEnd, events::TaskStart,
                 events::TaskEnd, events::CompactionStart, events::CompactionEnd, events::TurnEnd,
                 events::AbortRequested, events::Aborted, events::Failed, events::Idle,
                 events::OperationEnd, events::RunStart, events::Log, events::RunEnd>;

// The wire type of a payload ("tool_end", ...).
std::string_view event_type(const EventPayload& e);
// The payload's own fields as a JSON object (without the common fields).
json_object event_fields(const EventPayload& e);
// Reads a catalogue event from its type and fields: nullopt for a type outside the catalogue
// (a workflow's own events) or a field of the wrong JSON type. Missing fields keep their
// defaults; fields the type does not know (the common ones, newer ones) are ignored.
std::optional<EventPayload> decode_event(std::string_view type, const json& data);

// The event as the catalogue type E, when it is one.
template <class E>
std::optional<E> event_as(const Event& e) {
  if (e.type != E::type) return std::nullopt;
  auto payload = decode_event(e.type, e.data);
  if (!payload) return std::nullopt;
  return std::get<E>(std::move(*payload));
}

}  // namespace cppflue
