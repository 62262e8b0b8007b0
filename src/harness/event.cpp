// SPDX-License-Identifier: Apache-2.0
// The event catalogue's wire form: each payload type's members, described once here, are its
// fields (encoded by event_fields, read back leniently by decode_event).
#include "cppflue/harness/event.hpp"

#include <boost/describe.hpp>
#include <boost/mp11/algorithm.hpp>

namespace cppflue {
namespace events {
BOOST_DESCRIBE_STRUCT(OperationStart, (), (operation_kind))
BOOST_DESCRIBE_STRUCT(AgentStart, (), ())
BOOST_DESCRIBE_STRUCT(TurnRequest, (), (turn_id, model))
BOOST_DESCRIBE_STRUCT(TextDelta, (), (text))
BOOST_DESCRIBE_STRUCT(ThinkingDelta, (), (text))
BOOST_DESCRIBE_STRUCT(Turn, (), (turn_id, model, usage))
BOOST_DESCRIBE_STRUCT(ToolStart, (), (toolName, toolCallId, args))
BOOST_DESCRIBE_STRUCT(ToolEnd, (), (toolName, toolCallId, isError, result))
BOOST_DESCRIBE_STRUCT(CommandStart, (), (command, args))
BOOST_DESCRIBE_STRUCT(CommandEnd, (), (command, exitCode))
BOOST_DESCRIBE_STRUCT(TaskStart, (), (taskId, prompt, role, cwd, parentSessionId))
BOOST_DESCRIBE_STRUCT(TaskEnd, (), (taskId, isError, result))
BOOST_DESCRIBE_STRUCT(CompactionStart, (), (reason, estimatedTokens))
BOOST_DESCRIBE_STRUCT(CompactionEnd, (), (messagesBefore, messagesAfter))
BOOST_DESCRIBE_STRUCT(TurnEnd, (), ())
BOOST_DESCRIBE_STRUCT(AbortRequested, (), (operation))
BOOST_DESCRIBE_STRUCT(Aborted, (), (operation))
BOOST_DESCRIBE_STRUCT(Failed, (), (message, error_type))
BOOST_DESCRIBE_STRUCT(Idle, (), ())
BOOST_DESCRIBE_STRUCT(OperationEnd, (), (operation_kind, duration_ms, is_error))
BOOST_DESCRIBE_STRUCT(RunStart, (), (run_id, workflow, agent, agent_id, session_id))
BOOST_DESCRIBE_STRUCT(Log, (), (level, message))  // `fields` is merged, see below
BOOST_DESCRIBE_STRUCT(RunEnd, (), (run_id, status, is_error, result, error))
}  // namespace events

namespace {

template <class T>
using members_of = boost::describe::describe_members<T, boost::describe::mod_public>;

// ---- one field -----------------------------------------------------------------------------

void put(json_object& out, std::string_view name, const std::string& v) { out[name] = v; }
void put(json_object& out, std::string_view name, bool v) { out[name] = v; }
void put(json_object& out, std::string_view name, std::int64_t v) { out[name] = v; }
void put(json_object& out, std::string_view name, const json& v) { out[name] = v; }
void put(json_object& out, std::string_view name, const std::vector<std::string>& v) {
  json_array a;
  for (const auto& s : v) a.emplace_back(s);
  out[name] = std::move(a);
}
void put(json_object& out, std::string_view name, const std::optional<std::string>& v) {
  if (v) out[name] = *v;  // absent fields are left out
}

bool get(const json& v, std::string& out) {
  if (!v.is_string()) return false;
  out = v.get_string();
  return true;
}
bool get(const json& v, bool& out) {
  if (!v.is_bool()) return false;
  out = v.get_bool();
  return true;
}
bool get(const json& v, std::int64_t& out) {
  if (v.is_int64()) {
    out = v.get_int64();
    return true;
  }
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    out = static_cast<std::int64_t>(v.get_uint64());
    return true;
  }
  return false;
}
bool get(const json& v, json& out) {
  out = v;
  return true;
}
bool get(const json& v, std::vector<std::string>& out) {
  if (!v.is_array()) return false;
  out.clear();
  for (const auto& e : v.get_array()) {
    if (!e.is_string()) return false;
    out.emplace_back(e.get_string());
  }
  return true;
}
bool get(const json& v, std::optional<std::string>& out) {
  if (v.is_null()) {
    out.reset();
    return true;
  }
  return get(v, out.emplace());
}

// ---- one payload ---------------------------------------------------------------------------

template <class E>
json_object encode(const E& e) {
  json_object out;
  boost::mp11::mp_for_each<members_of<E>>([&](auto d) { put(out, d.name, e.*d.pointer); });
  if constexpr (std::is_same_v<E, events::Log>) {
    for (const auto& kv : e.fields) out[kv.key()] = kv.value();
  }
  return out;
}

template <class E>
std::optional<EventPayload> decode(const json_object& data) {
  E e{};
  bool ok = true;
  boost::mp11::mp_for_each<members_of<E>>([&](auto d) {
    if (const json* field = data.if_contains(d.name)) ok = ok && get(*field, e.*d.pointer);
  });
  if (!ok) return std::nullopt;
  if constexpr (std::is_same_v<E, events::Log>) {
    for (const auto& kv : data) {
      if (kv.key() != "level" && kv.key() != "message") e.fields[kv.key()] = kv.value();
    }
  }
  return EventPayload(std::move(e));
}

}  // namespace

json to_json(const Event& e) {
  json_object out;
  out["type"] = e.type;
  if (e.data.is_object()) {
    for (const auto& kv : e.data.get_object()) out[kv.key()] = kv.value();
  }
  return out;
}

std::string_view event_type(const EventPayload& e) {
  return std::visit([](const auto& p) { return std::decay_t<decltype(p)>::type; }, e);
}

json_object event_fields(const EventPayload& e) {
  return std::visit([](const auto& p) { return encode(p); }, e);
}

std::optional<EventPayload> decode_event(std::string_view type, const json& data) {
  static const json_object empty;
  const json_object& fields = data.is_object() ? data.get_object() : empty;
  std::optional<EventPayload> out;
  bool found = false;
  boost::mp11::mp_for_each<boost::mp11::mp_iota_c<std::variant_size_v<EventPayload>>>(
      [&](auto i) {
        using E = std::variant_alternative_t<decltype(i)::value, EventPayload>;
        if (found || type != E::type) return;
        found = true;
        out = decode<E>(fields);
      });
  return out;
}

}  // namespace cppflue
