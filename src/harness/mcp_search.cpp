// SPDX-License-Identifier: Apache-2.0
#include "cppflue/harness/mcp_search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "cppflue/schema/validator.hpp"

namespace cppflue {

std::vector<std::string> search_terms(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  char prev = 0;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      // camelCase boundary: "listDir" → list, dir
      if (std::isupper(u) && std::islower(static_cast<unsigned char>(prev))) flush();
      word += static_cast<char>(std::tolower(u));
    } else {
      flush();
    }
    prev = c;
  }
  flush();
  return out;
}

McpToolIndex::McpToolIndex(std::vector<McpToolEntry> entries) : entries_(std::move(entries)) {
  double total = 0;
  for (const auto& e : entries_) {
    std::map<std::string, int> counts;
    int length = 0;
    for (auto& t : search_terms(e.tool.name)) {
      counts[t] += 2;  // a word of the name weighs more than one of the description
      length += 2;
    }
    for (auto& t : search_terms(e.tool.title + " " + e.tool.description + " " + e.server)) {
      ++counts[t];
      ++length;
    }
    Doc d;
    d.terms.assign(counts.begin(), counts.end());
    d.length = length;
    total += length;
    docs_.push_back(std::move(d));
  }
  average_length_ =
      entries_.empty() ? 1 : std::max(1.0, total / static_cast<double>(entries_.size()));
}

std::vector<std::pair<const McpToolEntry*, double>> McpToolIndex::search(std::string_view query,
                                                                         std::size_t limit) const {
  constexpr double k1 = 1.2, b = 0.75;
  auto terms = search_terms(query);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  const double n = static_cast<double>(docs_.size());
  std::vector<double> scores(docs_.size(), 0.0);
  for (const auto& term : terms) {
    double df = 0;
    for (const auto& d : docs_) {
      df += std::any_of(d.terms.begin(), d.terms.end(),
                        [&](const auto& p) { return p.first == term; });
    }
    if (df == 0) continue;
    double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
    for (std::size_t i = 0; i < docs_.size(); ++i) {
      for (const auto& [t, tf] : docs_[i].terms) {
        if (t != term) continue;
        double norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * docs_[i].length / average_length_));
        scores[i] += idf * norm;
      }
    }
  }
  std::vector<std::pair<const McpToolEntry*, double>> out;
  for (std::size_t i = 0; i < docs_.size(); ++i) {
    if (scores[i] > 0) out.emplace_back(&entries_[i], scores[i]);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& c) {
    if (a.second != c.second) return a.second > c.second;
    return std::tie(a.first->server, a.first->tool.name) <
           std::tie(c.first->server, c.first->tool.name);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

const McpToolEntry* McpToolIndex::find(std::string_view server, std::string_view tool) const {
  for (const auto& e : entries_) {
    if (e.server == server && e.tool.name == tool) return &e;
  }
  return nullptr;
}

Result<std::shared_ptr<const McpToolIndex>> index_mcp_tools(
    const std::vector<std::shared_ptr<mcp::McpClient>>& clients) {
  std::vector<McpToolEntry> entries;
  for (const auto& c : clients) {
    if (!c) continue;
    auto tools = c->list_tools();
    if (!tools) {
      Error e = tools.error();
      e.message =
          fmt::format("MCP server '{}': listing its tools failed: {}", c->name(), e.message);
      return fail(std::move(e));
    }
    for (auto& t : *tools) entries.push_back(McpToolEntry{c->name(), std::move(t), c});
  }
  return std::shared_ptr<const McpToolIndex>(std::make_shared<McpToolIndex>(std::move(entries)));
}

namespace {
std::string required_text(const json& args, std::string_view tool, std::string_view key) {
  auto v = get_string(args, key);
  if (!v || v->empty()) {
    throw Exception(make_error(ErrorType::invalid_input,
                               fmt::format("{}: '{}' must be a non-empty string", tool, key)));
  }
  return *v;
}
}  // namespace

std::vector<ToolDefinition> mcp_search_execute_tools(std::shared_ptr<const McpToolIndex> index,
                                                     int default_limit) {
  std::vector<ToolDefinition> out;
  ToolDefinition search;
  search.name = "mcp_search";
  search.description = fmt::format(
      "Search the {} tools of the connected MCP servers by what they do. Returns the best "
      "matches with their server, name, description and input schema; run one with "
      "mcp_execute.",
      index->size());
  search.parameters = json_object{
      {"type", "object"},
      {"properties",
       json_object{
           {"query", json_object{{"type", "string"}, {"description", "What the tool should do"}}},
           {"limit", json_object{{"type", "integer"},
                                 {"minimum", 1},
                                 {"maximum", 100},
                                 {"description", "How many results (default " +
                                                     std::to_string(default_limit) + ")"}}}}},
      {"required", json_array{"query"}}};
  search.execute = [index, default_limit](const json& args, ToolContext&) -> json {
    std::string query = required_text(args, "mcp_search", "query");
    auto limit = get_int(args, "limit").value_or(default_limit);
    json_array results;
    for (const auto& [entry, score] :
         index->search(query, static_cast<std::size_t>(std::max<std::int64_t>(limit, 1)))) {
      results.push_back(json_object{{"server", entry->server},
                                    {"tool", entry->tool.name},
                                    {"description", entry->tool.description},
                                    {"input_schema", entry->tool.input_schema},
                                    {"score", std::round(score * 1000) / 1000}});
    }
    return json_object{{"query", query}, {"results", std::move(results)}};
  };
  out.push_back(std::move(search));

  ToolDefinition execute;
  execute.name = "mcp_execute";
  execute.description =
      "Run a tool of a connected MCP server (find it with mcp_search first). The arguments must "
      "match the tool's input schema.";
  execute.parameters =
      json_object{{"type", "object"},
                  {"properties", json_object{{"server", json_object{{"type", "string"}}},
                                             {"tool", json_object{{"type", "string"}}},
                                             {"arguments", json_object{{"type", "object"}}}}},
                  {"required", json_array{"server", "tool"}}};
  execute.execute = [index = std::move(index)](const json& args, ToolContext& ctx) -> json {
    std::string server = required_text(args, "mcp_execute", "server");
    std::string tool = required_text(args, "mcp_execute", "tool");
    const McpToolEntry* entry = index->find(server, tool);
    if (entry == nullptr) {
      throw Exception(make_error(
          ErrorType::not_found,
          fmt::format("mcp_execute: no tool '{}' on server '{}' (use mcp_search)", tool, server)));
    }
    json arguments = json_object{};
    if (const json* a = find(args, "arguments"); a && !a->is_null()) arguments = *a;
    if (entry->tool.input_schema.is_object()) {
      if (auto v = SchemaValidator::compile(entry->tool.input_schema)) {
        if (auto errors = v->validate(arguments); !errors.empty()) {
          throw Exception(make_error(ErrorType::invalid_input,
                                     fmt::format("mcp_execute {}/{}: invalid arguments:\n{}",
                                                 server, tool, format_path_errors(errors))));
        }
      }
    }
    auto r = entry->client->call_tool(tool, arguments, ctx.cancel);
    if (!r) throw Exception(std::move(r.error()));
    std::string text = mcp::tool_result_text(*r);
    if (r->is_error) throw Exception(make_error(ErrorType::tool_error, text));
    return json(text);
  };
  out.push_back(std::move(execute));
  return out;
}

}  // namespace cppflue
