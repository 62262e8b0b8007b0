// SPDX-License-Identifier: Apache-2.0
#include "server/prompt_runner.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "server/http_util.hpp"
#include "server/instance_cache.hpp"
#include "server/sessions.hpp"

namespace cppflue::server {

namespace {

using Status = PromptOutcome::Status;
using Unusable = tl::unexpected<std::string>;

// "message", else "prompt": a non-blank string.
tl::expected<std::string, std::string> message_text(const json& payload) {
  for (const char* key : {"message", "prompt"}) {
    const json* m = find(payload, key);
    if (m == nullptr || m->is_null()) continue;
    if (!m->is_string()) return Unusable(fmt::format("The {} field must be a string.", key));
    if (blank(m->as_string())) break;
    return std::string(m->as_string());
  }
  return Unusable("Send a non-empty \"message\" (or \"prompt\") string.");
}

// "input": any JSON but null, sent as is when a string, else as its JSON text.
tl::expected<std::string, std::string> input_text(const json& payload) {
  const json* input = find(payload, "input");
  if (input == nullptr || input->is_null()) {
    return Unusable("Send an \"input\" field (a string prompt or any JSON value).");
  }
  if (!input->is_string()) return boost::json::serialize(*input);
  if (blank(input->as_string())) return Unusable("The input field must not be an empty string.");
  return std::string(input->as_string());
}

tl::expected<std::string, std::string> session_name(const json& payload) {
  const json* s = find(payload, "session");
  if (s == nullptr || s->is_null()) return std::string("default");
  if (!s->is_string() || blank(s->as_string())) {
    return Unusable("The session field must be a non-empty string.");
  }
  return std::string(s->as_string());
}

// The current exception as a library error (anything but an Exception is internal).
Error current_error() {
  try {
    throw;
  } catch (const Exception& e) {
    return e.error();
  } catch (const std::exception& e) {
    return make_error(ErrorType::internal, e.what());
  } catch (...) {
    return make_error(ErrorType::internal, "unknown exception");
  }
}

PromptOutcome failed(const std::string& what, Error error) {
  // Internal errors reach clients without their message: keep it in the log.
  if (status_for(error.type) == 500) log::get()->error("server: {}: {}", what, error.message);
  PromptOutcome out{Status::failed};
  out.error = std::move(error);
  return out;
}

}  // namespace

tl::expected<PromptInput, std::string> read_prompt(const json& payload, PromptForm form) {
  auto text = form == PromptForm::message ? message_text(payload) : input_text(payload);
  if (!text) return Unusable(text.error());
  auto session = session_name(payload);
  if (!session) return Unusable(session.error());
  return PromptInput{std::move(*text), std::move(*session)};
}

std::string session_id(const std::string& instance_id, const std::string& session) {
  return instance_id + ":" + session;
}

json result_json(const PromptResult& r) {
  return json_object{{"text", r.text},
                     {"metadata", r.metadata},
                     {"usage", to_json(r.usage)},
                     {"model", json_object{{"id", r.model}}},
                     {"session_id", r.session_id}};
}

PromptRunner::PromptRunner(std::shared_ptr<Runtime> runtime,
                           std::shared_ptr<InstanceCache> instances,
                           std::shared_ptr<SessionGates> gates,
                           std::shared_ptr<ActiveSessions> active)
    : runtime_(std::move(runtime)),
      instances_(std::move(instances)),
      gates_(std::move(gates)),
      active_(std::move(active)) {}

asio::awaitable<PromptOutcome> PromptRunner::run(PromptCall call, std::shared_ptr<PromptSink> sink,
                                                 CancelToken cancel) {
  auto input = read_prompt(call.payload, call.form);
  if (!input) co_return PromptOutcome{Status::refused, input.error()};
  PromptTarget target{call.agent,
                      call.instance_id,
                      session_id(call.instance_id, input->session),
                      std::move(input->text),
                      call.payload,
                      nullptr,
                      call.traceparent};
  auto next = PromptSink::Next::wait;
  std::optional<Error> failure;
  try {
    const json& context = call.context.is_null() ? call.payload : call.context;
    target.agent = co_await instances_->get(call.agent, call.instance_id, context);
    next = co_await sink->accepted(target);
  } catch (...) {
    failure = current_error();
  }
  if (failure) {
    co_return failed(fmt::format("agent {} ({})", call.agent, target.session_id), *failure);
  }
  if (next == PromptSink::Next::drop) co_return PromptOutcome{Status::dropped};
  if (next == PromptSink::Next::detach) {
    // The prompt runs on its own (holding the runner), so a client that goes away does not cut
    // it short.
    auto rest = [](std::shared_ptr<PromptRunner> self, PromptTarget target,
                   std::shared_ptr<PromptSink> sink, CancelToken cancel) -> asio::awaitable<void> {
      co_await self->in_session(std::move(target), std::move(sink), std::move(cancel));
    };
    asio::co_spawn(runtime_->executor(),
                   rest(shared_from_this(), std::move(target), std::move(sink), std::move(cancel)),
                   asio::detached);
    co_return PromptOutcome{Status::detached};
  }
  co_return co_await in_session(std::move(target), std::move(sink), std::move(cancel));
}

// The only place a session's gate is taken.
asio::awaitable<PromptOutcome> PromptRunner::in_session(PromptTarget target,
                                                        std::shared_ptr<PromptSink> sink,
                                                        CancelToken cancel) {
  co_await gates_->acquire(target.session_id);
  SessionGates::Guard gate(*gates_, target.session_id);
  ActiveSessions::Guard running(*active_, target.session_id, target.agent);
  PromptOutcome outcome = co_await prompt(target, sink, cancel);
  sink->finished(target, outcome);
  co_return outcome;
}

asio::awaitable<PromptOutcome> PromptRunner::prompt(const PromptTarget& target,
                                                    std::shared_ptr<PromptSink> sink,
                                                    const CancelToken& cancel) {
  std::optional<Error> failure;
  try {
    Session session = target.agent->session(target.session_id);  // loading repairs a crashed call
    CancelRegistration abort(cancel, [session]() mutable { session.abort(); });
    if (cancel.cancelled()) {
      throw Exception(make_error(ErrorType::cancelled, "cancelled before the prompt started"));
    }
    std::optional<std::string> text = sink->text(target);
    if (!text) co_return PromptOutcome{Status::skipped};
    PromptOptions options;
    options.traceparent = target.traceparent;
    sink->configure(options);
    EventCallback on_event = [sink](const Event& e) { sink->event(e); };
    PromptOutcome out{Status::completed};
    if (sink->streams_deltas()) {
      out.result = co_await session.async_stream(std::move(*text), on_event, std::move(options));
    } else {
      options.on_event = on_event;
      out.result = co_await session.async_prompt(std::move(*text), std::move(options));
    }
    co_return out;
  } catch (...) {
    failure = current_error();
  }
  co_return failed(fmt::format("agent {} ({})", target.agent_name, target.session_id), *failure);
}

}  // namespace cppflue::server
