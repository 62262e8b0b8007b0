// SPDX-License-Identifier: Apache-2.0
// What every part of the server reads: the serve options, the project's configuration, the
// runtime and the store. Set up once by Server::start, then only read.
#pragma once

#include <memory>

#include "cppflue/core/config.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/server/server.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue::server {

struct ServerEnv {
  ServeOptions options;
  Config config;
  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<Store> store;
};

}  // namespace cppflue::server
