// SPDX-License-Identifier: Apache-2.0
// The `pretty` format of `cppflue logs`: see event_lines.hpp.
#include "event_lines.hpp"

#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <cstdio>

#include "cli.hpp"
#include "cppflue/harness/event.hpp"

namespace cppflue::cli {

namespace {

// Fields every event may carry, left out of the lines (the line has its own index and time).
bool is_common(std::string_view key) {
  return key == "session_id" || key == "operation_id" || key == "timestamp" || key == "run_id" ||
         key == "instance_id";
}

std::string value_text(const json& v, std::size_t max = kMaxValueChars) {
  if (v.is_string()) return one_line(v.get_string(), max);
  return one_line(dump(v), max);
}

// " key=value" for each field that is not a common one.
std::string field_list(const json_object& fields) {
  std::string out;
  for (const auto& kv : fields) {
    if (!is_common(kv.key())) out += fmt::format(" {}={}", kv.key(), value_text(kv.value()));
  }
  return out;
}

std::string usage_text(const json& usage) {
  std::string out = fmt::format(" tokens in={} out={}", get_int(usage, "input").value_or(0),
                                get_int(usage, "output").value_or(0));
  const json* cost = find(usage, "cost");
  const json* total = cost != nullptr ? find(*cost, "total") : nullptr;
  if (total != nullptr && total->is_number())
    out += " cost=" + usd_text(total->to_number<double>());
  return out;
}

// A run's result: an agent run's answer text, else the value.
std::string result_text(const json& result) {
  if (const json* text = find(result, "text"); text != nullptr && text->is_string()) {
    return one_line(text->get_string(), kMaxTextChars);
  }
  return value_text(result, kMaxTextChars);
}

// "11:25:28.606" of "2026-12-06T11:25:28.606Z".
std::string clock_of(const std::string& timestamp) {
  if (timestamp.size() >= 23 && timestamp[10] == 'T') return timestamp.substr(11, 12);
  return timestamp;
}

// The text of each catalogue event (text deltas are joined before they get here; a tool's end
// gets its duration from PrettyEvents).
struct Summary {
  using S = std::string;
  S operator()(const events::OperationStart& e) const {
    return "operation_start " + e.operation_kind;
  }
  S operator()(const events::AgentStart&) const { return "agent_start"; }
  S operator()(const events::TurnRequest& e) const { return "turn_request model=" + e.model; }
  S operator()(const events::TextDelta& e) const {
    return "assistant: " + one_line(e.text, kMaxTextChars);
  }
  S operator()(const events::ThinkingDelta& e) const {
    return "thinking: " + one_line(e.text, kMaxTextChars);
  }
  S operator()(const events::Turn& e) const {
    return "turn model=" + e.model + usage_text(e.usage);
  }
  S operator()(const events::ToolStart& e) const {
    return fmt::format("-> {}({})", e.toolName, one_line(dump(e.args), kMaxValueChars));
  }
  S operator()(const events::ToolEnd& e) const {
    return fmt::format("<- {}{}: {}", e.toolName, e.isError ? " error" : "",
                       one_line(e.result, kMaxValueChars));
  }
  S operator()(const events::CommandStart& e) const {
    std::string command = e.command;
    for (const auto& a : e.args) command += " " + a;
    return "$ " + one_line(command, kMaxValueChars);
  }
  S operator()(const events::CommandEnd& e) const {
    return fmt::format("command {} exited {}", one_line(e.command, kMaxValueChars), e.exitCode);
  }
  S operator()(const events::TaskStart& e) const {
    return fmt::format("task_start {}{}: {}", e.taskId, e.role.empty() ? "" : " role=" + e.role,
                       one_line(e.prompt, kMaxValueChars));
  }
  S operator()(const events::TaskEnd& e) const {
    return fmt::format("task_end {}{}: {}", e.taskId, e.isError ? " error" : "",
                       one_line(e.result, kMaxValueChars));
  }
  S operator()(const events::CompactionStart& e) const {
    return fmt::format("compaction_start reason={} estimated_tokens={}", e.reason,
                       e.estimatedTokens);
  }
  S operator()(const events::CompactionEnd& e) const {
    return fmt::format("compaction_end messages {} -> {}", e.messagesBefore, e.messagesAfter);
  }
  S operator()(const events::TurnEnd&) const { return "turn_end"; }
  S operator()(const events::AbortRequested& e) const { return "abort_requested " + e.operation; }
  S operator()(const events::Aborted& e) const { return "aborted " + e.operation; }
  S operator()(const events::Failed& e) const {
    return fmt::format("error {}: {}", e.error_type, one_line(e.message, kMaxTextChars));
  }
  S operator()(const events::Idle&) const { return "idle"; }
  S operator()(const events::OperationEnd& e) const {
    return fmt::format("operation {} {}{}", e.operation_kind, human_duration(e.duration_ms),
                       e.is_error ? " (failed)" : "");
  }
  S operator()(const events::RunStart& e) const {
    if (e.workflow) return "run_start workflow=" + *e.workflow;
    std::string out = "run_start agent=" + e.agent.value_or("?");
    if (e.agent_id) out += "/" + *e.agent_id;
    if (e.session_id) out += " session=" + *e.session_id;
    return out;
  }
  S operator()(const events::Log& e) const {
    return fmt::format("log {}: {}{}", e.level, one_line(e.message, kMaxTextChars),
                       field_list(e.fields));
  }
  S operator()(const events::RunEnd& e) const {
    std::string out = "run_end " + e.status;
    if (e.is_error || !e.error.is_null()) {
      return out + ": " + get_string_or(e.error, "type", "error") + ": " +
             one_line(get_string_or(e.error, "message", ""), kMaxTextChars);
    }
    return e.result.is_null() ? out : out + ": " + result_text(e.result);
  }
};

std::string index_text(std::int64_t first, std::int64_t last) {
  return first == last ? fmt::format("[{}]", first) : fmt::format("[{}-{}]", first, last);
}

}  // namespace

std::vector<std::string> PrettyEvents::add(const json& event) {
  static const json empty = json_object{};
  const std::int64_t index = get_int(event, "event_index").value_or(0);
  const std::string type = get_string_or(event, "type", "?");
  const std::string timestamp = get_string_or(event, "timestamp", "");
  const json* data = find(event, "data");
  if (data == nullptr || !data->is_object()) data = &empty;
  const bool text = type == events::TextDelta::type;
  if (text || type == events::ThinkingDelta::type) {
    std::vector<std::string> out;
    const char* label = text ? "assistant" : "thinking";
    if (deltas_ && deltas_->label != label) out = flush();
    if (!deltas_) deltas_ = Deltas{label, "", index, index, clock_of(timestamp)};
    deltas_->text += get_string_or(*data, "text", "");
    deltas_->last = index;
    return out;
  }
  std::vector<std::string> out = flush();
  if (type == events::ToolStart::type) {
    if (auto id = get_string(*data, "toolCallId")) tool_started_[*id] = timestamp;
  }
  std::string what = type == events::ToolEnd::type ? tool_end(*data, timestamp) : line(type, *data);
  out.push_back(fmt::format("{} {}{}", index_text(index, index),
                            timestamp.empty() ? "" : clock_of(timestamp) + " ", what));
  return out;
}

std::vector<std::string> PrettyEvents::flush() {
  if (!deltas_) return {};
  Deltas d = std::move(*deltas_);
  deltas_.reset();
  return {fmt::format("{} {}{}: {}", index_text(d.first, d.last),
                      d.time.empty() ? "" : d.time + " ", d.label,
                      one_line(d.text, kMaxTextChars))};
}

std::string PrettyEvents::line(const std::string& type, const json& data) {
  if (auto payload = decode_event(type, data)) return std::visit(Summary{}, *payload);
  // A workflow's own event type (or one whose fields do not read as the catalogue's).
  json_object fields;
  for (const auto& kv : data.get_object()) {
    if (!is_common(kv.key())) fields[kv.key()] = kv.value();
  }
  return fields.empty() ? type : type + " " + value_text(fields);
}

std::string PrettyEvents::tool_end(const json& data, const std::string& timestamp) {
  auto payload = decode_event(events::ToolEnd::type, data);
  if (!payload) return line(std::string(events::ToolEnd::type), data);
  const auto& end = std::get<events::ToolEnd>(*payload);
  std::string took;
  auto started = tool_started_.find(end.toolCallId);
  if (started != tool_started_.end()) {
    auto from = iso_millis(started->second);
    auto to = iso_millis(timestamp);
    if (from && to && *to >= *from) took = " (" + human_duration(*to - *from) + ")";
    tool_started_.erase(started);
  }
  return fmt::format("<- {}{}{}: {}", end.toolName, end.isError ? " error" : "", took,
                     one_line(end.result, kMaxValueChars));
}

std::string one_line(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t chars = 0;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    const bool starts_char = (c & 0xC0) != 0x80;
    if (starts_char && chars == max) break;
    if (starts_char) ++chars;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    }
  }
  if (i == text.size()) return out;
  std::size_t rest = 0;
  for (; i < text.size(); ++i) rest += (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
  return out + fmt::format("… [+{} chars]", rest);
}

std::optional<std::int64_t> iso_millis(std::string_view iso) {
  std::string s(iso);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6) {
    return std::nullopt;
  }
  std::int64_t ms = 0;
  if (static_cast<std::size_t>(used) < s.size() && s[static_cast<std::size_t>(used)] == '.') {
    int scale = 100;
    for (std::size_t i = static_cast<std::size_t>(used) + 1;
         i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && scale > 0;
         ++i, scale /= 10) {
      ms += (s[i] - '0') * scale;
    }
  }
  using namespace std::chrono;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  const auto seconds =
      sys_days(date).time_since_epoch() + hours(h) + minutes(mi) + std::chrono::seconds(sec);
  return duration_cast<milliseconds>(seconds).count() + ms;
}

std::string human_duration(std::int64_t ms) {
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms < 60'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  const std::int64_t s = ms / 1000;
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace cppflue::cli
