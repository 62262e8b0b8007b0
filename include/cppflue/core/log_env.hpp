// SPDX-License-Identifier: Apache-2.0
// cppflue/core/log_env.hpp — the log's environment settings, for code that does not include
// spdlog (the command line). See log.hpp.
#pragma once

namespace cppflue::log {

// Checks CPPFLUE_LOG and CPPFLUE_LOG_FORMAT now: a value that names no level or format is
// reported at once (a warning on stderr naming the valid ones), even by a command that never
// logs. Valid values are read when the log is first used (a project's .env may set them).
void check_environment();

}  // namespace cppflue::log
