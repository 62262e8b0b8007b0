// SPDX-License-Identifier: Apache-2.0
// cppflue/core/log.hpp — logging through spdlog. Logs go to stderr; the level comes from
// CPPFLUE_LOG (trace|debug|info|warn|error|off, default warn) so that normal CLI output
// stays clean. Internal to the library: not part of cppflue.hpp.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace cppflue::log {

std::shared_ptr<spdlog::logger> get();

}  // namespace cppflue::log
