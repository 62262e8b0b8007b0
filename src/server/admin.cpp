// SPDX-License-Identifier: Apache-2.0
// Read-only views of the server: the /admin listings (PyFlue's admin sub-app: agents,
// instances and runs from the store, paged with cursors) and the /__cppflue dashboard with its
// /__cppflue/status JSON.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "cppflue/core/clock.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project.hpp"
#include "cppflue/version.hpp"
#include "server/server_impl.hpp"

namespace cppflue::server {

using net::Exchange;
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
    // PyFlue's names (active/completed/errored) and the stored statuses are both accepted.
    if (*s == "active" || *s == "running") {
      p.status = "running";
    } else if (*s == "completed" || *s == "succeeded") {
      p.status = "completed";
    } else if (*s == "errored") {
      p.status = "failed,aborted";
    } else if (*s == "failed" || *s == "aborted") {
      p.status = *s;
    } else {
      p.bad = invalid_query("status", *s, "Must be one of: active, completed, errored.");
    }
  }
  return p;
}

// A store error caused by the cursor becomes 400 invalid_query_param; others propagate.
template <typename T>
const T& page_or_throw(const Result<T>& page, const std::string& cursor,
                       std::optional<ServerResponse>& bad) {
  static const T empty{};
  if (page) return *page;
  if (page.error().type == ErrorType::invalid_input) {
    bad = invalid_query("cursor", cursor, "Must be a valid pagination cursor.");
    return empty;
  }
  throw Exception(page.error());
}

json cursor_json(const std::string& next) {
  return next.empty() ? json(nullptr) : json(next);
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Percent-encodes one path segment for a link.
std::string url_segment(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

// ---- /admin ----

asio::awaitable<void> Server::Impl::admin_route(Exchange& ex, const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  // /admin/agents, /admin/agents/{n}/instances, /admin/agents/{n}/instances/{id}/runs,
  // /admin/runs, /admin/runs/{id}
  const std::size_t n = seg.size();
  bool agents = n >= 2 && seg[1] == "agents" &&
                (n == 2 || (n == 4 && seg[3] == "instances") ||
                 (n == 6 && seg[3] == "instances" && seg[5] == "runs"));
  bool runs = n >= 2 && seg[1] == "runs" && (n == 2 || n == 3);
  bool empty_segment = false;
  for (std::size_t i = 1; i < n; ++i) empty_segment = empty_segment || blank(seg[i]);
  if (auto refusal = refuse_route(req, (agents || runs) && !empty_segment, "GET")) {
    auto r = std::move(*refusal);
    co_await ex.respond(std::move(r));
    co_return;
  }
  ServerResponse response;
  auto work = [&] { response = admin_answer(req, seg); };
  co_await run_blocking(runtime->blocking(), work);
  co_await ex.respond(std::move(response));
}

ServerResponse Server::Impl::admin_answer(const ServerRequest& req,
                                          const std::vector<std::string>& seg) {
  const std::size_t n = seg.size();
  // A name is known when it has runs, or when this server serves it (it may have none yet).
  auto agent_known = [&](const std::string& name) {
    if (agents()->count(name) != 0) return true;
    auto wfs = registered_workflows();
    if (std::find(wfs.begin(), wfs.end(), name) != wfs.end()) return true;
    auto one = store->list_runs({.workflow = name, .limit = 1});
    if (!one) throw Exception(one.error());
    return !one->runs.empty();
  };

  if (seg[1] == "runs" && n == 3) {
    auto run = store->get_run(seg[2]);
    if (!run) throw Exception(run.error());
    if (!*run) return run_not_found(seg[2]);
    return json_response(200, run_json(**run));
  }

  Paging p = read_paging(req, seg[1] == "runs" || n == 6);
  if (p.bad) return std::move(*p.bad);

  if (seg[1] == "runs") {
    std::string agent;
    if (auto a = query_param(req.query, "agentName")) {
      agent = *a;
    } else if (auto b = query_param(req.query, "agent_name")) {
      agent = *b;
    }
    if (!agent.empty() && !agent_known(agent)) return not_known("agent_not_found", "Agent", agent);
    auto page = store->list_runs(
        {.workflow = agent, .status = p.status, .limit = p.limit, .cursor = p.cursor});
    std::optional<ServerResponse> bad;
    const RunPage& runs = page_or_throw(page, p.cursor, bad);
    if (bad) return std::move(*bad);
    json_array list;
    for (const auto& r : runs.runs) list.push_back(run_json(r));
    json items = list;
    return json_response(200, json_object{{"runs", std::move(list)},
                                          {"items", std::move(items)},
                                          {"nextCursor", cursor_json(runs.next_cursor)}});
  }

  if (n == 2) {  // /admin/agents
    auto page = store->list_run_workflows({.limit = p.limit, .cursor = p.cursor});
    std::optional<ServerResponse> bad;
    const NamePage& names = page_or_throw(page, p.cursor, bad);
    if (bad) return std::move(*bad);
    json_array list;
    for (const auto& name : names.names) list.push_back(json_object{{"name", name}});
    json items = list;
    return json_response(200, json_object{{"agents", std::move(list)},
                                          {"items", std::move(items)},
                                          {"nextCursor", cursor_json(names.next_cursor)}});
  }

  const std::string& name = seg[2];
  if (!agent_known(name)) return not_known("agent_not_found", "Agent", name);
  if (n == 4) {  // /admin/agents/{name}/instances
    auto page = store->list_run_instances({.workflow = name, .limit = p.limit, .cursor = p.cursor});
    std::optional<ServerResponse> bad;
    const NamePage& names = page_or_throw(page, p.cursor, bad);
    if (bad) return std::move(*bad);
    json_array list;
    for (const auto& id : names.names) {
      list.push_back(json_object{{"agent_id", id}, {"instanceId", id}});
    }
    json items = list;
    return json_response(200, json_object{{"agent", name},
                                          {"agentName", name},
                                          {"instances", std::move(list)},
                                          {"items", std::move(items)},
                                          {"nextCursor", cursor_json(names.next_cursor)}});
  }

  // /admin/agents/{name}/instances/{id}/runs
  const std::string& id = seg[4];
  auto any = store->list_runs({.workflow = name, .limit = 1, .instance_id = id});
  if (!any) throw Exception(any.error());
  if (any->runs.empty()) return not_known("instance_not_found", "Instance", id);
  auto page = store->list_runs({.workflow = name,
                                .status = p.status,
                                .limit = p.limit,
                                .cursor = p.cursor,
                                .instance_id = id});
  std::optional<ServerResponse> bad;
  const RunPage& runs = page_or_throw(page, p.cursor, bad);
  if (bad) return std::move(*bad);
  json_array list;
  for (const auto& r : runs.runs) list.push_back(run_json(r));
  json items = list;
  return json_response(200, json_object{{"agent", name},
                                        {"agentName", name},
                                        {"agent_id", id},
                                        {"instanceId", id},
                                        {"runs", std::move(list)},
                                        {"items", std::move(items)},
                                        {"nextCursor", cursor_json(runs.next_cursor)}});
}

// ---- /__cppflue ----

json Server::Impl::server_status_json() {
  json_array routes;
  json_array agent_names;
  for (const auto& [name, e] : *agents()) {
    agent_names.push_back(json(name));
    routes.push_back(json_object{{"name", name},
                                 {"path", fmt::format("/agents/{}/{{agent_id}}", name)},
                                 {"kind", e.compiled ? "compiled" : "markdown"},
                                 {"triggers", e.triggers}});
  }
  json_array workflows;
  for (const auto& w : registered_workflows()) {
    workflows.push_back(json_object{{"name", w}, {"path", fmt::format("/workflows/{}", w)}});
  }
  json_array problems;
  // Skills and roles alike: {name, description, path} of each, or the discovery error.
  auto describe = [&problems](const auto& discovered) {
    json_array list;
    if (!discovered) {
      problems.push_back(json(discovered.error().message));
      return list;
    }
    for (const auto& [name, item] : *discovered) {
      list.push_back(json_object{
          {"name", name}, {"description", item.description}, {"path", item.path.string()}});
    }
    return list;
  };
  json_array skills = describe(discover_skills(config.root / ".agents" / "skills"));
  json_array roles = describe(discover_roles(config.root / ".agents" / "roles"));
  json_array active_sessions;
  for (const auto& key : active->keys()) {
    active_sessions.push_back(json_object{{"session_id", key}});
  }
  json dispatch_counts = json_object{};
  if (auto counts = store->dispatch_counts()) {
    for (const auto& [state, count] : *counts) dispatch_counts.as_object()[state] = count;
  }
  return json_object{
      {"ok", true},
      {"framework", "cppflue"},
      {"version", kVersion},
      {"generated_at", iso8601_now()},
      {"root", config.root.string()},
      {"config_path", config.config_path.string()},
      {"route_count", routes.size()},
      {"routes", std::move(routes)},
      {"agents", std::move(agent_names)},
      {"workflows", std::move(workflows)},
      {"skills", std::move(skills)},
      {"roles", std::move(roles)},
      {"active_sessions", std::move(active_sessions)},
      {"dispatch", std::move(dispatch_counts)},
      {"problems", std::move(problems)},
  };
}

std::string Server::Impl::dashboard_html() {
  json status = server_status_json();
  const json_object& s = status.as_object();
  std::string out;
  auto add = [&out](std::string_view text) { out += text; };
  auto e = [](const json& v) {
    return html_escape(v.is_string() ? std::string_view(v.as_string()) : std::string_view());
  };
  add("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>cppflue dashboard</title><style>"
      "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
      "table{border-collapse:collapse;margin-bottom:1.5em}"
      "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
      "th{background:#f3f3f3}code{font-size:13px}.failed,.aborted{color:#b00}"
      ".running{color:#06c}.completed{color:#080}</style></head><body>\n");
  add(fmt::format("<h1>cppflue {}</h1>\n<p>Project <code>{}</code></p>\n", html_escape(kVersion),
                  e(s.at("root"))));

  add("<h2>Agents</h2>\n<table><tr><th>name</th><th>route</th><th>kind</th><th>triggers</th></"
      "tr>\n");
  for (const auto& r : s.at("routes").as_array()) {
    add(fmt::format(
        "<tr><td>{}</td><td><code>POST {}</code></td><td>{}</td><td><code>{}</code></td>"
        "</tr>\n",
        e(r.at("name")), e(r.at("path")), e(r.at("kind")),
        html_escape(boost::json::serialize(r.at("triggers")))));
  }
  add("</table>\n");

  if (!s.at("workflows").as_array().empty()) {
    add("<h2>Workflows</h2>\n<table><tr><th>name</th><th>route</th></tr>\n");
    for (const auto& w : s.at("workflows").as_array()) {
      add(fmt::format("<tr><td>{}</td><td><code>POST {}</code></td></tr>\n", e(w.at("name")),
                      e(w.at("path"))));
    }
    add("</table>\n");
  }

  add("<h2>Skills</h2>\n<table><tr><th>name</th><th>description</th></tr>\n");
  for (const auto& k : s.at("skills").as_array()) {
    add(fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", e(k.at("name")), e(k.at("description"))));
  }
  add("</table>\n");
  for (const auto& p : s.at("problems").as_array()) {
    add(fmt::format("<p class=\"failed\">{}</p>\n", e(p)));
  }

  // Sessions: the most recently updated ones.
  add("<h2>Sessions</h2>\n");
  if (auto sessions = store->list_sessions()) {
    std::vector<SessionRecord> list = std::move(*sessions);
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return std::tie(a.updated_at, a.id) > std::tie(b.updated_at, b.id);
    });
    add(fmt::format("<p>{} session(s); active now: {}.</p>\n", list.size(),
                    s.at("active_sessions").as_array().size()));
    add("<table><tr><th>id</th><th>agent</th><th>entries</th><th>updated</th></tr>\n");
    for (std::size_t i = 0; i < list.size() && i < 50; ++i) {
      const auto& r = list[i];
      add(fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                      html_escape(r.id), html_escape(r.agent), r.entry_count,
                      html_escape(r.updated_at)));
    }
    add("</table>\n");
  } else {
    add(fmt::format("<p class=\"failed\">{}</p>\n", html_escape(sessions.error().message)));
  }

  add("<h2>Recent runs</h2>\n");
  if (auto runs = store->list_runs({.limit = 20})) {
    add("<table><tr><th>run</th><th>agent</th><th>instance</th><th>status</th><th>started</th>"
        "<th>ms</th><th>events</th></tr>\n");
    for (const auto& r : runs->runs) {
      add(fmt::format(
          "<tr><td><a href=\"/runs/{}\"><code>{}</code></a></td><td>{}</td><td>{}</td>"
          "<td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          url_segment(r.id), html_escape(r.id), html_escape(r.workflow), html_escape(r.instance_id),
          html_escape(r.status), html_escape(r.status), html_escape(r.started_at),
          r.ended_at.empty() ? 0 : r.duration_ms, r.event_count));
    }
    add("</table>\n");
  } else {
    add(fmt::format("<p class=\"failed\">{}</p>\n", html_escape(runs.error().message)));
  }

  add("<h2>Dispatch queue</h2>\n<p>");
  bool first = true;
  for (const auto& [state, count] : s.at("dispatch").as_object()) {
    add(fmt::format("{}{}: {}", first ? "" : ", ", html_escape(state),
                    boost::json::serialize(count)));
    first = false;
  }
  add(first ? "empty.</p>\n" : ".</p>\n");
  add("<p><a href=\"/__cppflue/status\">status JSON</a> · <a href=\"/admin/runs\">runs JSON</a>"
      "</p>\n</body></html>\n");
  return out;
}

asio::awaitable<void> Server::Impl::dashboard_route(Exchange& ex,
                                                    const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  bool status = seg.size() == 2 && seg[1] == "status";
  if (auto refusal = refuse_route(req, seg.size() == 1 || status, "GET")) {
    auto r = std::move(*refusal);
    co_await ex.respond(std::move(r));
    co_return;
  }
  ServerResponse response;
  auto work = [&] {
    if (status) {
      response = json_response(200, server_status_json());
    } else {
      response.status = 200;
      response.headers = {{"Content-Type", "text/html; charset=utf-8"},
                          {"Cache-Control", "no-store"}};
      response.body = dashboard_html();
    }
  };
  co_await run_blocking(runtime->blocking(), work);
  co_await ex.respond(std::move(response));
}

}  // namespace cppflue::server
