// SPDX-License-Identifier: Apache-2.0
#include "server/dashboard.hpp"

#include "cppflue/core/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <tuple>
#include <vector>

#include "cppflue/core/clock.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project.hpp"
#include "cppflue/version.hpp"
#include "server/async_util.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

using net::ServerResponse;

namespace {

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

// A JSON string, HTML-escaped ("" for anything else).
std::string e(const json& v) {
  return html_escape(v.is_string() ? std::string_view(v.as_string()) : std::string_view());
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

// Skills and roles alike: {name, description, path} of each that reads (the others are among
// the served agents' problems).
template <typename Scanned>
json_array describe(const Scanned& scanned) {
  json_array list;
  for (const auto& [name, item] : scanned.items) {
    list.push_back(json_object{
        {"name", name}, {"description", item.description}, {"path", item.path.string()}});
  }
  return list;
}

json_array workflows_json() {
  json_array workflows;
  for (const auto& w : registered_workflows()) {
    workflows.push_back(json_object{{"name", w}, {"path", fmt::format("/workflows/{}", w)}});
  }
  return workflows;
}

std::string head_html(const json_object& s) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<title>cppflue dashboard</title><style>"
         "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
         "table{border-collapse:collapse;margin-bottom:1.5em}"
         "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
         "th{background:#f3f3f3}code{font-size:13px}.failed,.aborted{color:#b00}"
         ".running{color:#06c}.completed{color:#080}</style></head><body>\n" +
         fmt::format("<h1>cppflue {}</h1>\n<p>Project <code>{}</code></p>\n", html_escape(kVersion),
                     e(s.at("root")));
}

// Agents, workflows, skills and the problems found reading them.
std::string catalog_html(const json_object& s) {
  std::string out =
      "<h2>Agents</h2>\n<table><tr><th>name</th><th>route</th><th>kind</th><th>triggers</th></"
      "tr>\n";
  for (const auto& r : s.at("routes").as_array()) {
    out += fmt::format(
        "<tr><td>{}</td><td><code>POST {}</code></td><td>{}</td><td><code>{}</code></td>"
        "</tr>\n",
        e(r.at("name")), e(r.at("path")), e(r.at("kind")),
        html_escape(boost::json::serialize(r.at("triggers"))));
  }
  out += "</table>\n";
  if (!s.at("workflows").as_array().empty()) {
    out += "<h2>Workflows</h2>\n<table><tr><th>name</th><th>route</th></tr>\n";
    for (const auto& w : s.at("workflows").as_array()) {
      out += fmt::format("<tr><td>{}</td><td><code>POST {}</code></td></tr>\n", e(w.at("name")),
                         e(w.at("path")));
    }
    out += "</table>\n";
  }
  out += "<h2>Skills</h2>\n<table><tr><th>name</th><th>description</th></tr>\n";
  for (const auto& k : s.at("skills").as_array()) {
    out +=
        fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", e(k.at("name")), e(k.at("description")));
  }
  out += "</table>\n";
  for (const auto& p : s.at("problems").as_array()) {
    out += fmt::format("<p class=\"failed\">{}</p>\n", e(p));
  }
  return out;
}

// The dispatch queue's counts, and the page's end.
std::string dispatch_html(const json_object& s) {
  std::string out = "<h2>Dispatch queue</h2>\n<p>";
  bool first = true;
  for (const auto& [state, count] : s.at("dispatch").as_object()) {
    out += fmt::format("{}{}: {}", first ? "" : ", ", html_escape(state),
                       boost::json::serialize(count));
    first = false;
  }
  out += first ? "empty.</p>\n" : ".</p>\n";
  out +=
      "<p><a href=\"/__cppflue/status\">status JSON</a> · <a href=\"/admin/runs\">runs JSON</a>"
      "</p>\n</body></html>\n";
  return out;
}

}  // namespace

json Dashboard::status_json() const {
  json_array routes;
  json_array agent_names;
  for (const auto& [name, entry] : *agents_->catalog()) {
    agent_names.push_back(json(name));
    routes.push_back(route_json(entry, true));
  }
  const Config& config = env_->config;
  json_array problems;
  for (const auto& p : agents_->problems()) problems.push_back(json(p));
  json_array skills = describe(scan_skills(config.root / ".agents" / "skills"));
  json_array roles = describe(scan_roles(config.root / ".agents" / "roles"));
  json_array active_sessions;
  for (const auto& key : active_->keys()) {
    active_sessions.push_back(json_object{{"session_id", key}});
  }
  json dispatch_counts = json_object{};
  if (auto counts = env_->store->dispatch_counts()) {
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
      {"workflows", workflows_json()},
      {"skills", std::move(skills)},
      {"roles", std::move(roles)},
      {"active_sessions", std::move(active_sessions)},
      {"dispatch", std::move(dispatch_counts)},
      {"problems", std::move(problems)},
  };
}

// Sessions: the most recently updated ones.
std::string Dashboard::sessions_html(const json_object& s) const {
  std::string out = "<h2>Sessions</h2>\n";
  auto sessions = env_->store->list_sessions();
  if (!sessions) {
    return out + fmt::format("<p class=\"failed\">{}</p>\n", html_escape(sessions.error().message));
  }
  std::vector<SessionRecord> list = std::move(*sessions);
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return std::tie(a.updated_at, a.id) > std::tie(b.updated_at, b.id);
  });
  out += fmt::format("<p>{} session(s); active now: {}.</p>\n", list.size(),
                     s.at("active_sessions").as_array().size());
  out += "<table><tr><th>id</th><th>agent</th><th>entries</th><th>updated</th></tr>\n";
  for (std::size_t i = 0; i < list.size() && i < 50; ++i) {
    const auto& r = list[i];
    out += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       html_escape(r.id), html_escape(r.agent), r.entry_count,
                       html_escape(r.updated_at));
  }
  return out + "</table>\n";
}

std::string Dashboard::runs_html() const {
  std::string out = "<h2>Recent runs</h2>\n";
  auto runs = env_->store->list_runs({.limit = 20});
  if (!runs) {
    return out + fmt::format("<p class=\"failed\">{}</p>\n", html_escape(runs.error().message));
  }
  out +=
      "<table><tr><th>run</th><th>agent</th><th>instance</th><th>status</th><th>started</th>"
      "<th>ms</th><th>events</th></tr>\n";
  for (const auto& r : runs->runs) {
    out += fmt::format(
        "<tr><td><a href=\"/runs/{}\"><code>{}</code></a></td><td>{}</td><td>{}</td>"
        "<td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        url_segment(r.id), html_escape(r.id), html_escape(r.workflow), html_escape(r.instance_id),
        html_escape(r.status), html_escape(r.status), html_escape(r.started_at),
        r.ended_at.empty() ? 0 : r.duration_ms, r.event_count);
  }
  return out + "</table>\n";
}

std::string Dashboard::html() const {
  json status = status_json();
  const json_object& s = status.as_object();
  return head_html(s) + catalog_html(s) + sessions_html(s) + runs_html() + dispatch_html(s);
}

asio::awaitable<ServerResponse> Dashboard::page(const RouteCall&) {
  ServerResponse response;
  response.status = 200;
  response.headers = {{"Content-Type", "text/html; charset=utf-8"}, {"Cache-Control", "no-store"}};
  co_await run_blocking(env_->runtime->blocking(), [&] { response.body = html(); });
  co_return response;
}

asio::awaitable<ServerResponse> Dashboard::status(const RouteCall&) {
  ServerResponse response;
  co_await run_blocking(env_->runtime->blocking(),
                        [&] { response = json_response(200, status_json()); });
  co_return response;
}

asio::awaitable<ServerResponse> Dashboard::metrics(const RouteCall& call) {
  if (!env_->config.telemetry.metrics) co_return route_not_found(call.request());
  ServerResponse response;
  // The collectors read the store: off the event loop.
  co_await run_blocking(env_->runtime->blocking(), [&] {
    response.status = 200;
    response.headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    response.body = cppflue::metrics::registry().render();
  });
  co_return response;
}

}  // namespace cppflue::server
