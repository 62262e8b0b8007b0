// SPDX-License-Identifier: Apache-2.0
// POST /workflows/{name} and WS /workflows/{name}: a run of a compiled workflow, started on the
// blocking pool with the server's store and model. The run is answered as accepted (202), as
// its result (?wait=result), as a server-sent event stream of its events, or over a WebSocket.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "cppflue/net/http_server.hpp"
#include "server/router.hpp"
#include "server/run_hub.hpp"
#include "server/runs.hpp"
#include "server/server_env.hpp"

namespace cppflue::server {

struct WorkflowJob;  // a workflow run, as seen by the request that started it

class WorkflowRoutes {
 public:
  WorkflowRoutes(std::shared_ptr<const ServerEnv> env, std::shared_ptr<RunHub> hub,
                 std::shared_ptr<RunFollower> follower)
      : env_(std::move(env)), hub_(std::move(hub)), follower_(std::move(follower)) {}
  // POST /workflows/{name}
  boost::asio::awaitable<Reply> start(const RouteCall& call, ResponseStream& out);
  // WS /workflows/{name}: one message ({"payload":{...}} or the payload itself), then the run's
  // events as {"type", ...RunEvent}, then {"type":"result",...} or {"type":"error",...}.
  boost::asio::awaitable<Reply> socket(const RouteCall& call, ResponseStream& out);

 private:
  // Starts `name` on the blocking pool; the job signals when run_start is stored (or the run
  // could not start) and when it ends.
  std::shared_ptr<WorkflowJob> launch(const boost::asio::any_io_executor& executor,
                                      const std::string& name, json payload,
                                      const std::string& run_id, std::string traceparent = {});
  // The run's events as SSE, then an error event for a run that did not complete.
  boost::asio::awaitable<void> answer_events(ResponseStream& out, const std::string& run_id);
  // The run's result (?wait=result) once it has ended.
  boost::asio::awaitable<net::ServerResponse> answer_result(WorkflowJob& job,
                                                            const std::string& run_id);
  // Runs `name` for a WebSocket and sends its events, then its end; false when the client left.
  boost::asio::awaitable<bool> socket_run(net::ServerWebSocket& ws, const std::string& name,
                                          json payload);

  std::shared_ptr<const ServerEnv> env_;
  std::shared_ptr<RunHub> hub_;
  std::shared_ptr<RunFollower> follower_;
};

}  // namespace cppflue::server
