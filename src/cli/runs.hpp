// SPDX-License-Identifier: Apache-2.0
// `cppflue runs list|show`: the project's stored runs (workflow runs and background agent
// runs), newest first, and one run's record. Their events are `cppflue logs RUN_ID`.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "cli.hpp"

namespace cppflue::cli {

struct RunsOptions {
  std::string action = "list";  // list | show
  std::string id;               // show: the run id
  int limit = 20;               // list: at most this many runs
  std::string status;           // list: only runs with this status (comma-separated)
  bool json = false;
};

CLI::App* add_runs_command(CLI::App& app, RunsOptions& runs, CommonOptions& common);
int runs_command(const CommonOptions& common, const RunsOptions& opts);

}  // namespace cppflue::cli
