// SPDX-License-Identifier: Apache-2.0
// A session's history: durable (and redacted) appends, markers, loading a session from the
// store, and the one scan for tool calls left without a result.
#include <fmt/format.h>

#include <set>

#include "compaction.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "session_internal.hpp"

namespace cppflue {

SessionImpl::SessionImpl(std::shared_ptr<AgentImpl> a, std::string session_id,
                         std::vector<Message> h)
    : agent(std::move(a)),
      id(std::move(session_id)),
      strand(boost::asio::make_strand(agent->runtime->executor())),
      history(std::move(h)) {}

std::vector<ToolCall> unanswered_tool_calls(const std::vector<Message>& h) {
  std::vector<ToolCall> open_calls;
  for (std::size_t i = h.size(); i-- > 0;) {
    if (h[i].role == Role::user) break;
    if (h[i].role != Role::assistant) continue;
    std::set<std::string> answered;
    for (std::size_t j = i + 1; j < h.size(); ++j) {
      if (h[j].role == Role::tool) answered.insert(h[j].tool_call_id);
    }
    for (const auto& c : h[i].tool_calls) {
      if (!answered.count(c.id)) open_calls.push_back(c);
    }
    break;
  }
  return open_calls;
}

Result<void> SessionImpl::append(const Message& original, std::string_view source, json turn) {
  Entry e;
  e.kind = "message";
  e.role = std::string(role_name(original.role));
  e.content = to_json(original);
  if (!turn.is_null() && e.content.is_object()) e.content.as_object()["turn"] = std::move(turn);
  e.source = std::string(source);
  // No known secret is stored, or kept for later model calls, whatever brought it in: the
  // user's own text, thinking, raw tool arguments, provider data.
  Message m = original;
  if (agent->redactor && !agent->redactor->empty()) {
    agent->redactor->apply(e.content);
    if (auto back = message_from_json(e.content)) m = std::move(*back);
  }
  auto r = agent->store->append_entry(id, e);
  if (!r) return fail(r.error());
  std::lock_guard lock(mu);
  history.push_back(m);
  seqs.push_back(*r);
  return {};
}

std::optional<std::int64_t> SessionImpl::drop_unanswered_user_message() {
  std::lock_guard lock(mu);
  if (history.empty() || history.back().role != Role::user || seqs.size() != history.size()) {
    return std::nullopt;
  }
  std::int64_t seq = seqs.back();
  history.pop_back();
  seqs.pop_back();
  return seq;
}

void SessionImpl::append_marker(json_object content) {
  Entry e;
  e.kind = "marker";
  e.content = std::move(content);
  if (auto r = agent->store->append_entry(id, e); !r) {
    log::get()->error("session {}: cannot record marker: {}", id, r.error().message);
  }
}

void OperationContext::repair_history() {
  std::vector<ToolCall> open_calls;
  {
    std::lock_guard lock(session_.mu);
    open_calls = unanswered_tool_calls(session_.history);
  }
  for (const auto& c : open_calls) {
    constexpr std::string_view kAborted =
        "aborted: the operation was stopped before this tool call finished";
    auto it = pending_results_.find(c.id);
    Message m = it != pending_results_.end()
                    ? it->second
                    : tool_message(c, std::string(kAborted), true, nullptr);
    if (auto r = session_.append(m, "tool"); !r) {
      log::get()->error("session {}: cannot record tool result: {}", session_.id,
                        r.error().message);
    }
  }
}

namespace {

struct Context {
  std::vector<Message> history;
  std::vector<std::int64_t> seqs;
};

// The context of a stored session: messages, where a compaction entry replaces everything
// before its first kept entry by its summary. Each entry's JSON is freed once it has become a
// message, so the history is never held twice over (parsed JSON takes about twice its text).
Result<Context> load_context(const std::string& id, std::vector<Entry>& entries) {
  Context out;
  out.history.reserve(entries.size());
  out.seqs.reserve(entries.size());
  for (auto& e : entries) {
    if (e.kind == "compaction") {
      auto summary = get_string(e.content, "summary");
      auto first_kept = get_int(e.content, "first_kept_seq");
      if (!summary || !first_kept) {
        return fail(ErrorType::store_error,
                    fmt::format("session '{}' entry {} is an unreadable compaction", id, e.seq));
      }
      Context kept{{detail::summary_message(*summary)}, {e.seq}};
      for (std::size_t i = 0; i < out.history.size(); ++i) {
        if (out.seqs[i] >= *first_kept) {
          kept.history.push_back(std::move(out.history[i]));
          kept.seqs.push_back(out.seqs[i]);
        }
      }
      out = std::move(kept);
      continue;
    }
    if (e.kind == "marker") {
      // A failed operation's user message that nothing answered stays out of the context.
      if (auto dropped = get_int(e.content, "dropped_seq")) {
        for (std::size_t i = 0; i < out.seqs.size(); ++i) {
          if (out.seqs[i] != *dropped) continue;
          out.history.erase(out.history.begin() + static_cast<std::ptrdiff_t>(i));
          out.seqs.erase(out.seqs.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      }
      continue;
    }
    if (e.kind != "message") continue;
    auto m = message_from_json(e.content);
    if (!m) {
      return fail(ErrorType::store_error, fmt::format("session '{}' entry {} is unreadable: {}", id,
                                                      e.seq, m.error().message));
    }
    out.history.push_back(std::move(*m));
    out.seqs.push_back(e.seq);
    e.content = nullptr;
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<SessionImpl>> AgentImpl::open_session(const std::string& id,
                                                             const SessionInit& init) {
  std::lock_guard lock(mu);
  if (auto it = sessions.find(id); it != sessions.end()) {
    if (auto live = it->second.lock()) return live;
  }
  auto rec = store->open_session(id, init);
  if (!rec) return fail(rec.error());
  // Only what the context is made of: entries a compaction replaced are never read.
  auto entries = store->context_entries(id);
  if (!entries) return fail(entries.error());
  auto context = load_context(id, *entries);
  if (!context) return fail(context.error());
  auto impl = std::make_shared<SessionImpl>(shared_from_this(), id, std::move(context->history));
  impl->seqs = std::move(context->seqs);
  impl->metadata = rec->metadata.is_object() ? rec->metadata : json(json_object{});
  if (auto d = get_int(impl->metadata, "task_depth")) impl->task_depth = static_cast<int>(*d);
  if (const json* c = find(impl->metadata, "children"); c && c->is_array()) {
    impl->task_counter = static_cast<int>(c->get_array().size());
  }
  // A process that died during a tool call left the last assistant message with calls that
  // have no result; answer them so the conversation is valid for the next request.
  for (const auto& c : unanswered_tool_calls(impl->history)) {
    Message m = tool_message(c, "interrupted: the process stopped before this tool call finished",
                             true, nullptr);
    if (auto r = impl->append(m, "repair"); !r) return fail(r.error());
  }
  sessions[id] = impl;
  return impl;
}

}  // namespace cppflue
