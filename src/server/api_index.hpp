// SPDX-License-Identifier: Apache-2.0
// GET /: an index of the API for a client (or a person with curl) that knows only the server's
// address: the name and version, links to the main routes, the served workflows and every
// route of the route table.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "cppflue/net/http_server.hpp"

namespace cppflue::server {

struct ServerParts;
class RouteCall;

boost::asio::awaitable<net::ServerResponse> api_index(ServerParts& parts, const RouteCall& call);

}  // namespace cppflue::server
