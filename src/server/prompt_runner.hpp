// SPDX-License-Identifier: Apache-2.0
// The one path every prompt of the server takes: HTTP (plain JSON, SSE, X-Webhook runs),
// WebSocket, and dispatched items (POST .../dispatch and the chat webhooks). PromptRunner::run
// validates the message and session, looks up the instance (built on first use), takes the
// session's gate (prompts to one session run one at a time, in arrival order), registers the
// session as active (for /sessions/{id}/abort), runs the prompt and turns failures into library
// errors. What differs per transport is a PromptSink: when the prompt is accepted, the text it
// sends, its events, and its outcome.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <tl/expected.hpp>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/harness/agent.hpp"

namespace cppflue {
class Runtime;
}

namespace cppflue::server {

class InstanceCache;
class SessionGates;
class ActiveSessions;

// Where a call's prompt and session are read from.
enum class PromptForm {
  message,  // an agent request: "message" (else "prompt"), a non-blank string
  input,    // a dispatched item: "input", any JSON but null; a string must not be blank, other
            // values are sent as their JSON text
};

// A validated prompt: the text to send and the session name.
struct PromptInput {
  std::string text;
  std::string session = "default";
};

// The prompt and the "session" field (absent or null: "default"; else a non-blank string) of
// `payload`, or why they are unusable (the details of a 400 invalid_request).
tl::expected<PromptInput, std::string> read_prompt(const json& payload, PromptForm form);

// The session id of session `session` of instance `instance_id`: "<instance_id>:<session>".
std::string session_id(const std::string& instance_id, const std::string& session);

// {"text","metadata","usage","model":{"id"},"session_id"}: a prompt result on the wire.
json result_json(const PromptResult& r);

// One prompt, as received.
struct PromptCall {
  std::string agent;        // the served agent's name
  std::string instance_id;  // the route's {id}, or a chat thread
  json payload;             // holds the prompt and "session", as `form` says
  PromptForm form = PromptForm::message;
  json context = nullptr;   // the context payload of a new instance; null: `payload`
  std::string traceparent;  // the caller's W3C trace context ("" = a new trace)
};

// A call once accepted: its instance, session and text.
struct PromptTarget {
  std::string agent_name;
  std::string instance_id;
  std::string session_id;
  std::string text;
  json payload;
  std::shared_ptr<Agent> agent;
  std::string traceparent;
};

struct PromptOutcome {
  enum class Status {
    refused,    // the message or session is unusable (`refusal`); nothing ran
    failed,     // the instance could not be built, or the prompt failed (`error`)
    completed,  // `result`
    skipped,    // the sink chose to send nothing (see PromptSink::text)
    detached,   // the sink sent the rest to the background; its finished() reports the end
    dropped,    // the sink gave up before waiting for the session (its client left)
  };
  Status status = Status::failed;
  std::string refusal;
  std::optional<Error> error;
  std::optional<PromptResult> result;
};

// A transport's side of a prompt. The runner calls accepted() once the call is valid and its
// instance ready; then, holding the session, text(), configure() and event() for each event;
// finally finished() with the outcome (failed, completed or skipped).
class PromptSink {
 public:
  enum class Next {
    wait,    // run() returns when the prompt has finished
    detach,  // run() returns now; the prompt runs in the background
    drop,    // run() returns now; nothing runs
  };
  virtual ~PromptSink() = default;
  // May throw (the call then fails with that error).
  virtual boost::asio::awaitable<Next> accepted(const PromptTarget&) { co_return Next::wait; }
  // The text to send (the session is loaded: a crashed tool call is repaired), or nullopt to
  // send nothing. May throw.
  virtual std::optional<std::string> text(const PromptTarget& target) { return target.text; }
  virtual void configure(PromptOptions&) {}
  // True: the model's answer is streamed (text_delta and thinking_delta events).
  virtual bool streams_deltas() const { return false; }
  virtual void event(const Event&) {}
  virtual void finished(const PromptTarget&, const PromptOutcome&) {}
};

class PromptRunner : public std::enable_shared_from_this<PromptRunner> {
 public:
  PromptRunner(std::shared_ptr<Runtime> runtime, std::shared_ptr<InstanceCache> instances,
               std::shared_ptr<SessionGates> gates, std::shared_ptr<ActiveSessions> active);
  // Runs `call` (see the top of this file). `cancel` aborts the prompt, or fails it with
  // `cancelled` when it fires before the prompt has started. Does not throw.
  boost::asio::awaitable<PromptOutcome> run(PromptCall call, std::shared_ptr<PromptSink> sink,
                                            CancelToken cancel = {});

 private:
  boost::asio::awaitable<PromptOutcome> in_session(PromptTarget target,
                                                   std::shared_ptr<PromptSink> sink,
                                                   CancelToken cancel);
  boost::asio::awaitable<PromptOutcome> prompt(const PromptTarget& target,
                                               std::shared_ptr<PromptSink> sink,
                                               const CancelToken& cancel);

  std::shared_ptr<Runtime> runtime_;
  std::shared_ptr<InstanceCache> instances_;
  std::shared_ptr<SessionGates> gates_;
  std::shared_ptr<ActiveSessions> active_;
};

}  // namespace cppflue::server
