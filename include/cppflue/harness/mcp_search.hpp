// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/mcp_search.hpp — `[mcp] mode = "search_execute"`: two tools instead of all of
// them.
//
// With many MCP servers the tool list alone can fill the context. In this mode the model gets
// `mcp_search(query, limit)`, which ranks every tool of every connected server by BM25 over its
// name, description and server name and returns the best ones with their input schemas, and
// `mcp_execute(server, tool, arguments)`, which checks the arguments against that tool's schema
// and calls it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cppflue/harness/tool.hpp"
#include "cppflue/mcp/client.hpp"

namespace cppflue {

struct McpToolEntry {
  std::string server;
  mcp::McpTool tool;
  std::shared_ptr<mcp::McpClient> client;
};

class McpToolIndex {
 public:
  explicit McpToolIndex(std::vector<McpToolEntry> entries);
  // The best `limit` tools for `query` (score > 0), best first; ties in name order.
  std::vector<std::pair<const McpToolEntry*, double>> search(std::string_view query,
                                                             std::size_t limit) const;
  const McpToolEntry* find(std::string_view server, std::string_view tool) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Doc {
    std::vector<std::pair<std::string, int>> terms;  // term → count (name terms count twice)
    int length = 0;
  };
  std::vector<McpToolEntry> entries_;
  std::vector<Doc> docs_;
  double average_length_ = 0;
};

// Lowercase words of letters and digits ("read_file" → read, file; "listDir" → list, dir).
std::vector<std::string> search_terms(std::string_view text);

// Lists the tools of every client into an index.
Result<std::shared_ptr<const McpToolIndex>> index_mcp_tools(
    const std::vector<std::shared_ptr<mcp::McpClient>>& clients);

// `mcp_search` and `mcp_execute` over `index`; `default_limit` is `[mcp] search_limit`.
std::vector<ToolDefinition> mcp_search_execute_tools(std::shared_ptr<const McpToolIndex> index,
                                                     int default_limit);

}  // namespace cppflue
