// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

namespace cppflue::log {

std::shared_ptr<spdlog::logger> get() {
  static std::once_flag once;
  static std::shared_ptr<spdlog::logger> logger;
  std::call_once(once, [] {
    logger = spdlog::stderr_color_mt("cppflue");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
    const char* lvl = std::getenv("CPPFLUE_LOG");
    logger->set_level(lvl ? spdlog::level::from_str(lvl) : spdlog::level::warn);
  });
  return logger;
}

}  // namespace cppflue::log
