// SPDX-License-Identifier: Apache-2.0
// The input rules of the store interfaces (checks.hpp).
#include "store/checks.hpp"

#include <fmt/format.h>

namespace cppflue::store_detail {

Error not_found(const std::string& path_text, std::string_view what, const std::string& id) {
  return make_error(ErrorType::not_found, fmt::format("{} {} not found", what, id),
                    json_object{{"path", path_text}, {what, id}});
}

Result<void> check_session_id(const std::string& id, const std::string& path_text) {
  if (!id.empty()) return {};
  return fail(ErrorType::invalid_input, "session id must not be empty",
              json_object{{"path", path_text}});
}

Result<void> check_new_run(const RunRecord& run, const std::string& path_text) {
  if (run.id.empty() || run.workflow.empty()) {
    return fail(ErrorType::invalid_input,
                run.id.empty() ? "run id must not be empty" : "run workflow must not be empty",
                json_object{{"path", path_text}, {"run", run.id}});
  }
  if (!run.status.empty() && parse_run_status(run.status) != RunStatus::running) {
    return fail(ErrorType::invalid_input,
                fmt::format("run {}: a new run must be \"{}\", not {:?}", run.id,
                            to_string(RunStatus::running), run.status),
                json_object{{"path", path_text}, {"run", run.id}, {"status", run.status}});
  }
  return {};
}

Result<void> check_event_type(const std::string& run_id, const std::string& type,
                              const std::string& path_text) {
  if (!type.empty()) return {};
  return fail(ErrorType::invalid_input, fmt::format("run {}: event type must not be empty", run_id),
              json_object{{"path", path_text}, {"run", run_id}});
}

Result<RunStatus> check_finish_status(const std::string& run_id, const std::string& status,
                                      const std::string& path_text) {
  auto parsed = parse_run_status(status);
  if (parsed && is_terminal(*parsed)) return *parsed;
  return fail(ErrorType::invalid_input,
              fmt::format("run {}: cannot finish with status {:?} (expected completed, failed or "
                          "aborted)",
                          run_id, status),
              json_object{{"path", path_text}, {"run", run_id}, {"status", status}});
}

Result<void> check_dispatch_item(const DispatchItem& item, const std::string& path_text) {
  if (!item.id.empty() && !item.agent.empty() && !item.instance_id.empty() &&
      !item.session.empty()) {
    return {};
  }
  return fail(ErrorType::invalid_input,
              "a dispatch item needs an id, an agent, an instance id and a session",
              json_object{{"path", path_text}, {"dispatch", item.id}});
}

Result<DispatchState> check_finish_state(const std::string& id, const std::string& state,
                                         const std::string& path_text) {
  auto parsed = parse_dispatch_state(state);
  if (parsed && is_terminal(*parsed)) return *parsed;
  return fail(ErrorType::invalid_input,
              fmt::format("dispatch {}: cannot finish with state {:?} (expected done or failed)",
                          id, state),
              json_object{{"path", path_text}, {"dispatch", id}, {"state", state}});
}

}  // namespace cppflue::store_detail
