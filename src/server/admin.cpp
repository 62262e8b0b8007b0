// SPDX-License-Identifier: Apache-2.0
#include "server/admin.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "cppflue/harness/app.hpp"
#include "server/async_util.hpp"
#include "server/http_util.hpp"
#include "server/runs.hpp"

namespace cppflue::server {

using net::ServerRequest;
using net::ServerResponse;

namespace {

constexpr const char* kAdminDetails =
    "Admin lookups list the agents and instances that have runs in this server's store.";

ServerResponse not_known(std::string_view type, std::string_view kind, std::string_view value) {
  return error_response(
      404, type, fmt::format("{} \"{}\" is not known to this server.", kind, value), kAdminDetails);
}

// The paging parameters shared by every listing.
struct Paging {
  int limit = 100;
  std::string cursor;
  std::string status;  // store statuses, comma-separated; empty = any
  std::optional<ServerResponse> bad;
};

// PyFlue's status names (active/completed/errored) and the stored statuses → store statuses.
std::optional<std::string> store_status(const std::string& s) {
  if (s == "active" || s == "running") return "running";
  if (s == "completed" || s == "succeeded") return "completed";
  if (s == "errored") return "failed,aborted";
  if (s == "failed" || s == "aborted") return s;
  return std::nullopt;
}

Paging read_paging(const ServerRequest& req, bool with_status) {
  Paging p;
  if (auto l = query_param(req.query, "limit")) {
    auto n = parse_count(*l);
    if (!n || *n < 1 || *n > 1000) {
      p.bad = invalid_query("limit", *l, "Must be an integer in [1, 1000].");
      return p;
    }
    p.limit = static_cast<int>(*n);
  }
  if (auto c = query_param(req.query, "cursor")) p.cursor = *c;
  if (auto s = query_param(req.query, "status"); s && with_status) {
    if (auto status = store_status(*s)) {
      p.status = *status;
    } else {
      p.bad = invalid_query("status", *s, "Must be one of: active, completed, errored.");
    }
  }
  return p;
}

// A page of the store, or the answer for a bad cursor (400 invalid_query_param); other store
// errors are thrown.
template <typename T>
std::optional<ServerResponse> page_problem(const Result<T>& page, const std::string& cursor) {
  if (page) return std::nullopt;
  if (page.error().type == ErrorType::invalid_input) {
    return invalid_query("cursor", cursor, "Must be a valid pagination cursor.");
  }
  throw Exception(page.error());
}

json cursor_json(const std::string& next) {
  return next.empty() ? json(nullptr) : json(next);
}

// {<name>: list, "items": list, "nextCursor"} plus `fields`.
ServerResponse listing(json_object fields, const char* name, json_array list,
                       const std::string& next) {
  fields[name] = list;
  fields["items"] = std::move(list);
  fields["nextCursor"] = cursor_json(next);
  return json_response(200, fields);
}

json_array runs_json(const RunPage& page) {
  json_array list;
  for (const auto& r : page.runs) list.push_back(run_json(r));
  return list;
}

}  // namespace

asio::awaitable<ServerResponse> AdminRoutes::blocking(std::function<ServerResponse()> answer) {
  ServerResponse response;
  co_await run_blocking(env_->runtime->blocking(), [&] { response = answer(); });
  co_return response;
}

bool AdminRoutes::known(const std::string& name) const {
  if (agents_->contains(name)) return true;
  auto workflows = registered_workflows();
  if (std::find(workflows.begin(), workflows.end(), name) != workflows.end()) return true;
  auto one = env_->store->list_runs({.workflow = name, .limit = 1});
  if (!one) throw Exception(one.error());
  return !one->runs.empty();
}

asio::awaitable<ServerResponse> AdminRoutes::agents(const RouteCall& call) {
  co_return co_await blocking([&] { return list_agents(call.request()); });
}

asio::awaitable<ServerResponse> AdminRoutes::instances(const RouteCall& call) {
  co_return co_await blocking([&] { return list_instances(call.request(), call.param("name")); });
}

asio::awaitable<ServerResponse> AdminRoutes::instance_runs(const RouteCall& call) {
  co_return co_await blocking(
      [&] { return list_instance_runs(call.request(), call.param("name"), call.param("id")); });
}

asio::awaitable<ServerResponse> AdminRoutes::runs(const RouteCall& call) {
  co_return co_await blocking([&] { return list_runs(call.request()); });
}

asio::awaitable<ServerResponse> AdminRoutes::session_entries(const RouteCall& call) {
  co_return co_await blocking([&]() -> ServerResponse {
    const std::string& id = call.param("session_id");
    const ServerRequest& req = call.request();
    Paging p = read_paging(req, false);
    if (p.bad) return std::move(*p.bad);
    std::int64_t after = 0;
    if (auto a = query_param(req.query, "after")) {
      auto n = parse_count(*a);
      if (!n || *n < 0) {
        return invalid_query("after", *a, "Must be a non-negative integer (an entry's seq).");
      }
      after = static_cast<std::int64_t>(*n);
    }
    auto session = env_->store->get_session(id);
    if (!session) throw Exception(session.error());
    if (!*session) {
      return error_response(404, "session_not_found",
                            fmt::format("Session \"{}\" is not in this server's store.", id),
                            "GET /admin/sessions/{session_id}/entries reads stored histories.");
    }
    // One more than asked: whether another page follows.
    auto page = env_->store->entries_page(id, after, static_cast<std::size_t>(p.limit) + 1);
    if (!page) throw Exception(page.error());
    const bool more = page->size() > static_cast<std::size_t>(p.limit);
    if (more) page->pop_back();
    json_array entries;
    for (const auto& e : *page) entries.push_back(to_json(e));
    json next = more ? json(page->back().seq) : json(nullptr);
    return json_response(200, json_object{{"session_id", id},
                                          {"entry_count", (*session)->entry_count},
                                          {"entries", std::move(entries)},
                                          {"next_after", std::move(next)}});
  });
}

asio::awaitable<ServerResponse> AdminRoutes::run(const RouteCall& call) {
  co_return co_await blocking([&]() -> ServerResponse {
    const std::string& id = call.param("run_id");
    auto run = env_->store->get_run(id);
    if (!run) throw Exception(run.error());
    if (!*run) return run_not_found(id);
    return json_response(200, run_json(**run));
  });
}

ServerResponse AdminRoutes::list_agents(const ServerRequest& req) const {
  Paging p = read_paging(req, false);
  if (p.bad) return std::move(*p.bad);
  auto page = env_->store->list_run_workflows({.limit = p.limit, .cursor = p.cursor});
  if (auto bad = page_problem(page, p.cursor)) return std::move(*bad);
  json_array list;
  for (const auto& name : page->names) list.push_back(json_object{{"name", name}});
  return listing({}, "agents", std::move(list), page->next_cursor);
}

ServerResponse AdminRoutes::list_instances(const ServerRequest& req,
                                           const std::string& name) const {
  Paging p = read_paging(req, false);
  if (p.bad) return std::move(*p.bad);
  if (!known(name)) return not_known("agent_not_found", "Agent", name);
  auto page =
      env_->store->list_run_instances({.workflow = name, .limit = p.limit, .cursor = p.cursor});
  if (auto bad = page_problem(page, p.cursor)) return std::move(*bad);
  json_array list;
  for (const auto& id : page->names) {
    list.push_back(json_object{{"agent_id", id}, {"instanceId", id}});
  }
  return listing({{"agent", name}, {"agentName", name}}, "instances", std::move(list),
                 page->next_cursor);
}

ServerResponse AdminRoutes::list_instance_runs(const ServerRequest& req, const std::string& name,
                                               const std::string& id) const {
  Paging p = read_paging(req, true);
  if (p.bad) return std::move(*p.bad);
  if (!known(name)) return not_known("agent_not_found", "Agent", name);
  auto any = env_->store->list_runs({.workflow = name, .limit = 1, .instance_id = id});
  if (!any) throw Exception(any.error());
  if (any->runs.empty()) return not_known("instance_not_found", "Instance", id);
  auto page = env_->store->list_runs({.workflow = name,
                                      .status = p.status,
                                      .limit = p.limit,
                                      .cursor = p.cursor,
                                      .instance_id = id});
  if (auto bad = page_problem(page, p.cursor)) return std::move(*bad);
  return listing({{"agent", name}, {"agentName", name}, {"agent_id", id}, {"instanceId", id}},
                 "runs", runs_json(*page), page->next_cursor);
}

ServerResponse AdminRoutes::list_runs(const ServerRequest& req) const {
  Paging p = read_paging(req, true);
  if (p.bad) return std::move(*p.bad);
  std::string agent;
  if (auto a = query_param(req.query, "agentName")) {
    agent = *a;
  } else if (auto b = query_param(req.query, "agent_name")) {
    agent = *b;
  }
  if (!agent.empty() && !known(agent)) return not_known("agent_not_found", "Agent", agent);
  auto page = env_->store->list_runs(
      {.workflow = agent, .status = p.status, .limit = p.limit, .cursor = p.cursor});
  if (auto bad = page_problem(page, p.cursor)) return std::move(*bad);
  return listing({}, "runs", runs_json(*page), page->next_cursor);
}

}  // namespace cppflue::server
