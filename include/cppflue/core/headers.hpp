// SPDX-License-Identifier: Apache-2.0
// cppflue/core/headers.hpp — HTTP header lists as plain data (name, value), in order.
//
// Shared by the transport (net/) and by code that only configures headers (providers, MCP
// servers), which must not depend on the transport.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cppflue {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

}  // namespace cppflue
