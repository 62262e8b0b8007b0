// SPDX-License-Identifier: Apache-2.0
// cppflue/client/client.hpp — a C++ client for `cppflue serve` (and PyFlue-compatible servers).
//
//   cppflue::Client client("http://127.0.0.1:2024", {.token = "..."});
//   auto reply = client.agents().invoke("assistant", "user-42", {{"message", "hello"}});
//   std::cout << reply.text() << "\n";
//
// Namespaces mirror the server's routes (docs/reference/http.md):
//   health()                      GET /health
//   agents()    list, invoke (sync), invoke_webhook (202 + run id), stream (SSE),
//               dispatch / dispatch_status, abort, connect (WebSocket)
//   workflows() invoke (202 + run id), wait (?wait=result), stream (SSE), run_socket (WebSocket)
//   runs()      get, events (after/limit/types), stream (replay + live tail; reconnects with
//               Last-Event-ID after a dropped connection until run_end)
//   admin()     agents, instances, runs, instance_runs, run (cursors, limit, status)
// Every method is synchronous (it runs on the shared runtime and waits) and must not be called
// from a runtime thread. A non-2xx answer throws `ClientError`: the envelope's `type` (e.g.
// "agent_not_found"), the HTTP status and the whole envelope, with the closest `ErrorType`
// (404 → not_found, 400/413/415 → invalid_input, 401 → auth_error, 409 session_busy, 429
// rate_limited, 408/504 → timeout, other 5xx → internal). Transport failures throw
// `cppflue::Exception` (connection_error, timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue {

struct ClientOptions {
  std::string token;                         // sent as "Authorization: Bearer <token>" when set
  std::chrono::milliseconds timeout{60000};  // whole request (streams: idle time between bytes)
  std::chrono::milliseconds connect_timeout{10000};
  std::string admin_base_path = "/admin";
  std::vector<std::pair<std::string, std::string>> headers;  // added to every request
};

// A server answer that is not 2xx.
class ClientError : public Exception {
 public:
  ClientError(Error error, int status, std::string type, json envelope);
  int status() const noexcept { return status_; }
  // The envelope's error type ("agent_not_found", "invalid_query_param", ...).
  const std::string& type_name() const noexcept { return type_; }
  const json& envelope() const noexcept { return envelope_; }

 private:
  int status_;
  std::string type_;
  json envelope_;
};

// One SSE event from the server.
struct ClientEvent {
  std::string type;  // the `event:` field ("message" when absent)
  std::string id;    // the `id:` field (run event index) when present
  json data;         // the parsed `data:` JSON (a string when it is not JSON)
};
// Receives events as they arrive; return false to stop reading.
using ClientEventHandler = std::function<bool(const ClientEvent&)>;

// A synchronous agent answer: the body's "result", and the run id when the server made a run.
struct AgentReply {
  json result = nullptr;  // {"text","usage","model","metadata",...}
  std::string run_id;
  json body = nullptr;  // the whole response body
  std::string text() const;
};

struct DispatchOptions {
  std::string session;          // default "default"
  std::string idempotency_key;  // the same key returns the original receipt
};

struct RunEventsQuery {
  std::int64_t after = 0;
  int limit = 1000;
  std::vector<std::string> types;
};

struct AdminQuery {
  int limit = 100;
  std::string cursor;
  std::string status;  // active | completed | errored (runs listings only)
  std::string agent;   // runs(): only this agent's runs
};

// A page of an admin listing: the items and the cursor of the next page (empty at the end).
struct AdminPage {
  json items = json_array{};
  std::string next_cursor;
  json body = nullptr;
};

// An open WebSocket to an agent: many prompts over one connection.
class AgentSocket {
 public:
  struct Impl;
  explicit AgentSocket(std::unique_ptr<Impl> impl);
  AgentSocket(AgentSocket&&) noexcept;
  AgentSocket& operator=(AgentSocket&&) noexcept;
  ~AgentSocket();
  // Sends {"type":"prompt","message","session"} and returns the answer message
  // ({"type":"result",...}); an {"type":"error"} answer throws ClientError (status 0).
  json prompt(const std::string& message, const std::string& session = "default");
  void close();

 private:
  std::unique_ptr<Impl> impl_;
};

class Client {
 public:
  explicit Client(std::string base_url, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& base_url() const;
  json health();

  class Agents {
   public:
    json list();  // the "agents" array
    AgentReply invoke(const std::string& name, const std::string& id, const json& payload);
    // X-Webhook: true → the run id of the background run.
    std::string invoke_webhook(const std::string& name, const std::string& id, const json& payload);
    // SSE: every event to `on_event`; returns the final "result" event's data when the
    // stream had one (else null). An "error" event throws ClientError.
    json stream(const std::string& name, const std::string& id, const json& payload,
                const ClientEventHandler& on_event);
    // The receipt {"status","dispatch_id","accepted_at",...}.
    json dispatch(const std::string& name, const std::string& id, const json& input,
                  const DispatchOptions& options = {});
    json dispatch_status(const std::string& name, const std::string& id,
                         const std::string& dispatch_id);
    // POST /sessions/{session_id}/abort → whether a running prompt was aborted.
    bool abort(const std::string& session_id);
    AgentSocket connect(const std::string& name, const std::string& id);

   private:
    friend class Client;
    explicit Agents(Client& c) : c_(c) {}
    Client& c_;
  };

  class Workflows {
   public:
    std::string invoke(const std::string& name, const json& payload);  // 202 → run id
    // ?wait=result → {"status":"completed","run_id","result"}; a failed run throws ClientError.
    json wait(const std::string& name, const json& payload);
    json stream(const std::string& name, const json& payload, const ClientEventHandler& on_event);
    // WS /workflows/{name}: run events to `on_event`, returns the final result message.
    json run_socket(const std::string& name, const json& payload,
                    const ClientEventHandler& on_event);

   private:
    friend class Client;
    explicit Workflows(Client& c) : c_(c) {}
    Client& c_;
  };

  class Runs {
   public:
    json get(const std::string& run_id);
    json events(const std::string& run_id, const RunEventsQuery& query = {});
    // Replays the events after `after`, then follows the run until run_end. A dropped
    // connection is resumed from the last event id (Last-Event-ID), up to `max_reconnects`
    // times in a row. Returns the id of the last event delivered.
    std::int64_t stream(const std::string& run_id, const ClientEventHandler& on_event,
                        std::int64_t after = 0, int max_reconnects = 5);

   private:
    friend class Client;
    explicit Runs(Client& c) : c_(c) {}
    Client& c_;
  };

  class Admin {
   public:
    AdminPage agents(const AdminQuery& query = {});
    AdminPage instances(const std::string& agent, const AdminQuery& query = {});
    AdminPage runs(const AdminQuery& query = {});
    AdminPage instance_runs(const std::string& agent, const std::string& id,
                            const AdminQuery& query = {});
    json run(const std::string& run_id);

   private:
    friend class Client;
    explicit Admin(Client& c) : c_(c) {}
    Client& c_;
  };

  Agents agents() { return Agents(*this); }
  Workflows workflows() { return Workflows(*this); }
  Runs runs() { return Runs(*this); }
  Admin admin() { return Admin(*this); }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cppflue
