// SPDX-License-Identifier: Apache-2.0
// Compaction of a session's context (docs/concepts/compaction.md): the older part of the history
// is summarised by a model, a compaction entry is stored and the context becomes summary +
// recent entries. The pure parts (estimates, where to cut, the request text) are compaction.cpp.
#include <fmt/format.h>

#include <cctype>

#include "compaction.hpp"
#include "cppflue/core/ids.hpp"
#include "session_internal.hpp"
#include "telemetry.hpp"

namespace asio = boost::asio;

namespace cppflue {

namespace {

// The summary of messages [0, cut) of `h` by `client`, with turn_request / turn events;
// trailing white space removed, known secrets redacted.
asio::awaitable<Result<std::string>> summarise(AgentImpl& agent, ModelClient& client,
                                               const std::vector<Message>& h, std::size_t cut,
                                               const std::string& model_spec, Emitter& emitter,
                                               CancelToken cancel, Usage& usage,
                                               const trace::SpanContext& parent) {
  std::vector<Message> older(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(cut));
  ModelRequest req;
  req.system = detail::kSummarySystem;
  Message ask;
  ask.role = Role::user;
  ask.text =
      detail::summary_request(detail::render_transcript(h, cut), detail::estimate_tokens(older));
  req.messages.push_back(std::move(ask));
  req.stream = false;
  std::string turn_id = new_hex_id("turn_", 16);
  emitter.emit(events::TurnRequest{turn_id, model_spec});
  trace::Span chat = telemetry::start_chat(parent, model_spec, emitter.session_id(), false);
  req.traceparent = chat.context().traceparent();
  auto response = co_await client.complete(std::move(req), DeltaCallback{}, cancel);
  if (!response) {
    telemetry::fail(chat, response.error(), agent.redactor.get());
    Error e = response.error();
    e.message = "compaction failed: " + e.message;
    co_return fail(std::move(e));
  }
  emitter.emit(events::Turn{turn_id, response->model.empty() ? model_spec : response->model,
                            to_json(response->usage)});
  telemetry::end_chat(chat, *response);
  usage = response->usage;
  std::string summary = response->message.text;
  while (!summary.empty() && std::isspace(static_cast<unsigned char>(summary.back()))) {
    summary.pop_back();
  }
  if (summary.empty()) {
    co_return fail(ErrorType::provider_error, "compaction: the model returned an empty summary");
  }
  if (agent.redactor && !agent.redactor->empty()) summary = agent.redactor->apply(summary);
  co_return summary;
}

}  // namespace

asio::awaitable<Result<CompactResult>> SessionImpl::compact_history(std::string reason,
                                                                    Emitter& emitter,
                                                                    CancelToken cancel,
                                                                    std::string model_spec) {
  const auto& cc = agent->config.compaction;
  CompactResult out;
  out.reason = reason;
  if (!cc.enabled) {
    out.reason = "compaction is disabled ([compaction] enabled = false)";
    co_return out;
  }
  std::vector<Message> h;
  std::vector<std::int64_t> hs;
  {
    std::lock_guard lock(mu);
    h = history;
    hs = seqs;
  }
  out.messages_before = static_cast<int>(h.size());
  out.messages_after = out.messages_before;
  std::size_t cut = detail::choose_cut(h, cc.keep_recent_tokens);
  if (cut == 0) {
    out.reason = "nothing to compact";
    co_return out;
  }
  std::int64_t total = detail::estimate_tokens(h);
  emitter.emit(events::CompactionStart{std::string(reason), total});
  trace::Span span = telemetry::start_internal("compaction", emitter.trace_context(), id);
  span.set("cppflue.compaction.reason", std::string(reason));
  span.set("cppflue.compaction.estimated_tokens", total);
  if (!cc.model.empty()) model_spec = cc.model;
  auto client = agent->client_for(model_spec);
  if (!client) {
    telemetry::fail(span, client.error(), agent->redactor.get());
    co_return fail(client.error());
  }
  auto summary = co_await summarise(*agent, *client->client, h, cut, model_spec, emitter, cancel,
                                    out.usage, span.context());
  if (!summary) {
    telemetry::fail(span, summary.error(), agent->redactor.get());
    co_return fail(std::move(summary.error()));
  }
  Entry e;
  e.kind = "compaction";
  e.content = json_object{{"summary", *summary},
                          {"first_kept_seq", hs[cut]},
                          {"reason", reason},
                          {"tokens_before", total},
                          {"messages_before", out.messages_before},
                          {"messages_after", static_cast<int>(h.size() - cut) + 1}};
  e.source = "compaction";
  auto seq = agent->store->append_entry(id, e);
  if (!seq) co_return fail(seq.error());
  {
    std::lock_guard lock(mu);
    std::vector<Message> next{detail::summary_message(*summary)};
    std::vector<std::int64_t> next_seqs{*seq};
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (seqs[i] >= hs[cut]) {
        next.push_back(history[i]);
        next_seqs.push_back(seqs[i]);
      }
    }
    history = std::move(next);
    seqs = std::move(next_seqs);
    out.messages_after = static_cast<int>(history.size());
  }
  out.compacted = true;
  out.summary = std::move(*summary);
  span.set("cppflue.compaction.messages_before", std::int64_t{out.messages_before});
  span.set("cppflue.compaction.messages_after", std::int64_t{out.messages_after});
  emitter.emit(events::CompactionEnd{out.messages_before, out.messages_after});
  co_return out;
}

asio::awaitable<Result<CompactResult>> SessionImpl::run_compact_op() {
  auto begun = begin_operation("compact", std::vector<EventCallback>{agent->on_event});
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();
  const ActiveOperation& op = *begun;
  auto result = co_await compact_history("manual", *op.emitter, op.cancel->token(), agent->model);
  if (!result && op.cancel->cancelled()) {
    result = fail(ErrorType::cancelled, fmt::format("compaction of session '{}' was aborted", id));
  }
  end_operation(op, result ? nullptr : &result.error());
  co_return result;
}

}  // namespace cppflue
