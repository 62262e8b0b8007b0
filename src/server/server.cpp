// SPDX-License-Identifier: Apache-2.0
// The server: loads the project, builds its parts and wires them to the HTTP server.
//
//   access_log.hpp   one access-log line per request, around everything below
//   front_door.hpp   CORS and Bearer auth, before routing
//   router.hpp       the route table (routes.cpp) and its dispatch
//   agent_routes.hpp health, GET /agents, prompts (JSON, SSE, X-Webhook runs), WebSocket, abort
//   prompt_runner.hpp the one prompt path (validation, instance, session gate, prompt, errors)
//   instance_cache.hpp, sessions.hpp, agent_catalog.hpp  instances, session gates, served agents
//   runs.hpp, workflows.hpp, dispatch.hpp, webhooks.hpp, admin.hpp, dashboard.hpp  the rest
#include "cppflue/server/server.hpp"

#include <fmt/format.h>

#include "cppflue/core/clock.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/metrics.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/net/http_server.hpp"
#include "cppflue/store/store.hpp"
#include "server/access_log.hpp"
#include "server/admin.hpp"
#include "server/agent_catalog.hpp"
#include "server/agent_routes.hpp"
#include "server/dashboard.hpp"
#include "server/dispatch.hpp"
#include "server/front_door.hpp"
#include "server/http_util.hpp"
#include "server/instance_cache.hpp"
#include "server/prompt_runner.hpp"
#include "server/replies.hpp"
#include "server/router.hpp"
#include "server/run_hub.hpp"
#include "server/runs.hpp"
#include "server/server_env.hpp"
#include "server/server_parts.hpp"
#include "server/sessions.hpp"
#include "server/webhooks.hpp"
#include "server/workflows.hpp"

namespace cppflue::server {

namespace {

// The answers of requests the HTTP server refuses itself, in the server's error envelope.
net::ServerResponse refused_request(int status, std::string_view reason) {
  switch (status) {
    case 413:
      return error_response(413, "payload_too_large", "Request body is too large.",
                            "Send a smaller body (see [server] max_body_bytes).");
    case 431:
      return error_response(431, "headers_too_large", "Request headers are too large.",
                            "Send fewer or shorter headers.");
    case 408:
      return error_response(408, "request_timeout", "The request took too long to arrive.",
                            "Send the whole request promptly.");
    case 400:
      return error_response(400, "invalid_request", "Request is invalid.",
                            "The HTTP request could not be parsed.", reason);
    default:
      return error_response(500, "internal_error", "An internal error occurred.",
                            "The server encountered an unexpected error while handling this "
                            "request.");
  }
}

// The configuration, runtime and store of the project `options` names.
Result<std::shared_ptr<ServerEnv>> open_env(ServeOptions options) {
  auto env = std::make_shared<ServerEnv>();
  std::filesystem::path cwd =
      options.root.empty() ? std::filesystem::current_path() : std::filesystem::path(options.root);
  auto config = discover_config(options.config_path, cwd);
  if (!config) return fail(config.error());
  apply_env_defaults(*config);
  env->config = std::move(*config);
  env->options = std::move(options);
  env->runtime = Runtime::shared();
  return env;
}

}  // namespace

// The gauges read when /metrics is scraped: dispatch queue, live sessions and instances.
void server_samples(Store& store, InstanceCache& instances, ActiveSessions& active,
                    std::vector<metrics::Sample>& out) {
  std::int64_t queued = 0;
  if (auto counts = store.dispatch_counts()) {
    for (const auto& [state, n] : *counts) {
      if (state == "pending" || state == "leased") queued += n;
    }
  }
  out.push_back({"cppflue_dispatch_queue_depth",
                 "Dispatched inputs pending or being processed.",
                 "gauge",
                 {},
                 static_cast<double>(queued)});
  double age = 0;
  if (auto oldest = store.oldest_open_dispatch_ms(); oldest && *oldest) {
    age = std::max<double>(0, static_cast<double>(unix_millis() - **oldest) / 1000);
  }
  out.push_back({"cppflue_dispatch_oldest_age_seconds",
                 "Age of the oldest dispatched input not yet processed (0: none).",
                 "gauge",
                 {},
                 age});
  out.push_back({"cppflue_sessions_active",
                 "Sessions running a prompt now.",
                 "gauge",
                 {},
                 static_cast<double>(active.keys().size())});
  out.push_back({"cppflue_instances_live",
                 "Agent instances kept in memory.",
                 "gauge",
                 {},
                 static_cast<double>(instances.size())});
}

struct Server::Impl {
  std::shared_ptr<const ServerEnv> env;
  std::shared_ptr<ServedAgents> agents = std::make_shared<ServedAgents>();
  std::shared_ptr<InstanceCache> instances;
  std::shared_ptr<DispatchQueue> dispatch;
  ServerParts parts;
  std::optional<FrontDoor> front_door;
  std::function<asio::awaitable<void>(net::Exchange&)> route;
  std::unique_ptr<net::HttpServer> http;
  std::string host;
  std::shared_ptr<void> gauges;  // the server's samples in /metrics, while it lives
  std::shared_ptr<RunHub> hub;

  // Builds the parts of a server for `env`.
  void assemble();
  Result<void> listen();
};

void Server::Impl::assemble() {
  auto gates = std::make_shared<SessionGates>();
  auto active = std::make_shared<ActiveSessions>();
  hub = std::make_shared<RunHub>();
  instances = std::make_shared<InstanceCache>(env);
  auto runner = std::make_shared<PromptRunner>(env->runtime, instances, gates, active);
  auto replies =
      std::make_shared<ReplyTools>(env->options.on_reply, env->config.server.reply_url,
                                   std::make_shared<HttpClient>(env->runtime->executor()));
  dispatch = std::make_shared<DispatchQueue>(env, agents, runner, replies);
  auto follower = std::make_shared<RunFollower>(env->store, hub, env->options.heartbeat);
  parts.agents = std::make_shared<AgentRoutes>(
      AgentRoutes::Parts{agents, runner, active, env->store, hub, env->options.heartbeat});
  parts.runs = std::make_shared<RunRoutes>(env->store, follower);
  parts.workflows = std::make_shared<WorkflowRoutes>(env, hub, follower);
  parts.dispatch = dispatch;
  parts.webhooks = std::make_shared<WebhookRoutes>(env->config.server, agents, dispatch);
  parts.admin = std::make_shared<AdminRoutes>(env, agents);
  parts.dashboard = std::make_shared<Dashboard>(env, agents, active);
  route = [this](net::Exchange& ex) { return serve_request(parts, ex); };
  gauges = metrics::registry().add_collector(
      [store = env->store, instances = instances, active](std::vector<metrics::Sample>& out) {
        server_samples(*store, *instances, *active, out);
      });
}

Result<void> Server::Impl::listen() {
  net::HttpServerOptions http_options;
  http_options.host = env->options.host.value_or(env->config.server.host);
  http_options.port = env->options.port.value_or(env->config.server.port);
  http_options.max_body_bytes = static_cast<std::size_t>(env->config.server.max_body_bytes);
  http_options.header_timeout = env->options.header_timeout;
  http_options.body_timeout = env->options.body_timeout;
  http_options.error_response = refused_request;
  host = http_options.host;
  // The access log wraps the front door, so its own answers (preflight, 401) are logged too.
  auto server = net::HttpServer::start(
      env->runtime->executor(), std::move(http_options),
      [this](net::Exchange& ex) -> asio::awaitable<void> {
        return serve_logged(ex, [this](net::Exchange& inner) -> asio::awaitable<void> {
          return front_door->serve(inner, route);
        });
      });
  if (!server) return fail(server.error());
  http = std::move(*server);
  return {};
}

Result<json> describe_routes(const std::string& config_path) {
  auto config = discover_config(config_path, std::filesystem::current_path());
  if (!config) return fail(config.error());
  auto project = discover_served_agents(*config);
  json_array agents;
  for (const auto& [name, e] : project.agents) agents.push_back(route_json(e, true));
  json_array problems;
  for (const auto& p : project.problems) problems.push_back(json(p));
  json_array workflows;
  for (const auto& w : registered_workflows()) {
    workflows.push_back(json_object{{"name", w}, {"path", fmt::format("/workflows/{}", w)}});
  }
  return json(json_object{{"agents", std::move(agents)},
                          {"workflows", std::move(workflows)},
                          {"problems", std::move(problems)}});
}

Result<std::size_t> Server::reload() {
  auto project = discover_served_agents(impl_->env->config);
  std::size_t count = project.agents.size();
  impl_->agents->replace(std::move(project));
  // Requests in flight keep the instance they hold; the next ones build fresh instances from
  // the files as they are now.
  impl_->instances->clear();
  return count;
}

std::vector<std::string> Server::problems() const {
  return impl_->agents->problems();
}

namespace {
void log_interrupted(const RunRecord& run) {
  const auto* error = run.error.if_object();
  const auto* message = error != nullptr ? error->if_contains("message") : nullptr;
  log::get()->warn("run {} ({}) ended as interrupted: {}", run.id, run.workflow,
                   message != nullptr && message->is_string() ? std::string(message->get_string())
                                                              : std::string("its process ended"));
}
}  // namespace

Result<std::unique_ptr<Server>> Server::start(ServeOptions options) {
  auto env = open_env(std::move(options));
  if (!env) return fail(env.error());
  auto impl = std::make_unique<Impl>();
  auto front_door = FrontDoor::open((*env)->config.server, (*env)->config.telemetry.metrics_public);
  if (!front_door) return fail(front_door.error());
  impl->front_door = std::move(*front_door);
  // The store creates the state directory (0700: it holds the history and the workspaces).
  auto store = open_sqlite_store((*env)->config.state_dir() / "state.db");
  if (!store) return fail(store.error());
  (*env)->store = std::move(*store);
  impl->env = *env;
  // Runs that a server or `cppflue run` on this store left running when its process ended
  // (killed, crashed): ended as interrupted now, so that they do not stay running for ever.
  if (auto ended = end_interrupted_runs(*impl->env->store); ended) {
    for (const auto& run : *ended) log_interrupted(run);
  } else {
    log::get()->error("cannot end the interrupted runs: {}", ended.error().message);
  }

  // Broken project files are listed in /__cppflue/status (problems()); the agents without a
  // problem are served.
  impl->agents->replace(discover_served_agents(impl->env->config));
  impl->assemble();
  if (auto r = impl->listen(); !r) return fail(r.error());
  if (auto r = impl->dispatch->start(); !r) {
    impl->http->stop(std::chrono::milliseconds(0));
    return fail(r.error());
  }
  return std::make_unique<Server>(std::move(impl));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop(std::chrono::milliseconds(0));
}

const std::string& Server::host() const {
  return impl_->host;
}

int Server::port() const {
  return impl_->http ? impl_->http->port() : 0;
}

void Server::stop(std::chrono::milliseconds grace) {
  auto deadline = std::chrono::steady_clock::now() + grace;
  impl_->dispatch->stop_leasing();  // no new leases from now on
  // Background runs (X-Webhook prompts, workflows) are not resumed by the next server. Once the
  // requests in flight have had their grace, the runs still going end as interrupted, with
  // their run_end (which their streams, still open, then send), rather than stay running for
  // ever. (The work itself is not aborted here: dispatched items in flight are left to the next
  // server by dispatch->stop.)
  auto end_runs = [this] {
    if (auto ended = end_interrupted_runs(*impl_->env->store, {.own = true}); ended) {
      for (const auto& run : *ended) {
        log_interrupted(run);
        impl_->hub->notify(run.id);
      }
    } else {
      log::get()->error("cannot end the runs still running: {}", ended.error().message);
    }
  };
  if (impl_->http) {
    impl_->http->stop(grace, end_runs);
  } else {
    end_runs();
  }
  impl_->dispatch->stop(deadline);
}

}  // namespace cppflue::server
