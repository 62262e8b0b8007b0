// SPDX-License-Identifier: Apache-2.0
// The input rules and the "not found" errors of the store interfaces, shared by every backend so
// that each refuses the same inputs with the same errors. Private to src/store. `path_text` is
// the store's location, reported in every error's details.
#pragma once

#include <string>
#include <string_view>

#include "cppflue/store/store.hpp"

namespace cppflue::store_detail {

// not_found "<what> <id> not found", details {"path", <what>: id}; `what` is "session", "run"
// or "dispatch".
Error not_found(const std::string& path_text, std::string_view what, const std::string& id);

// open_session: the id must not be empty.
Result<void> check_session_id(const std::string& id, const std::string& path_text);

// create_run: id and workflow set, status empty or "running".
Result<void> check_new_run(const RunRecord& run, const std::string& path_text);
// append_run_event: the type must not be empty.
Result<void> check_event_type(const std::string& run_id, const std::string& type,
                              const std::string& path_text);
// finish_run: a terminal status (completed, failed, aborted).
Result<RunStatus> check_finish_status(const std::string& run_id, const std::string& status,
                                      const std::string& path_text);

// enqueue_dispatch: id, agent, instance_id and session set.
Result<void> check_dispatch_item(const DispatchItem& item, const std::string& path_text);
// finish_dispatch: a terminal state (done, failed).
Result<DispatchState> check_finish_state(const std::string& id, const std::string& state,
                                         const std::string& path_text);

}  // namespace cppflue::store_detail
