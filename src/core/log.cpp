// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace cppflue::log {

std::shared_ptr<spdlog::logger> get() {
  // Never destroyed: threads still winding down while the process exits (runtime threads,
  // transports closing) may log after static destructors have run.
  static auto* const logger = [] {
    auto l = spdlog::stderr_color_mt("cppflue");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
    const char* lvl = std::getenv("CPPFLUE_LOG");
    l->set_level(lvl ? spdlog::level::from_str(lvl) : spdlog::level::warn);
    return new std::shared_ptr<spdlog::logger>(std::move(l));
  }();
  return *logger;
}

}  // namespace cppflue::log
