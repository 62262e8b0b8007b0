// SPDX-License-Identifier: Apache-2.0
// The parts of a running server that serve routes; the route table (routes.cpp) calls into
// them.
#pragma once

#include <memory>

namespace cppflue::server {

class AgentRoutes;
class RunRoutes;
class WorkflowRoutes;
class DispatchQueue;
class WebhookRoutes;
class AdminRoutes;
class Dashboard;

struct ServerParts {
  std::shared_ptr<AgentRoutes> agents;
  std::shared_ptr<RunRoutes> runs;
  std::shared_ptr<WorkflowRoutes> workflows;
  std::shared_ptr<DispatchQueue> dispatch;
  std::shared_ptr<WebhookRoutes> webhooks;
  std::shared_ptr<AdminRoutes> admin;
  std::shared_ptr<Dashboard> dashboard;
};

}  // namespace cppflue::server
