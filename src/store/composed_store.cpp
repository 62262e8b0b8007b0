// SPDX-License-Identifier: Apache-2.0
// A Store made of three parts (composed_store.hpp).
#include "store/composed_store.hpp"

#include <utility>

namespace cppflue::store_detail {
namespace {

class ComposedStore final : public Store {
 public:
  ComposedStore(std::shared_ptr<SessionStore> sessions, std::shared_ptr<RunStore> runs,
                std::shared_ptr<DispatchStore> dispatch)
      : sessions_(std::move(sessions)), runs_(std::move(runs)), dispatch_(std::move(dispatch)) {}

  // ---- SessionStore ----
  Result<SessionRecord> open_session(const std::string& id, const SessionInit& init) override {
    return sessions_->open_session(id, init);
  }
  Result<std::optional<SessionRecord>> get_session(const std::string& id) override {
    return sessions_->get_session(id);
  }
  Result<std::vector<SessionRecord>> list_sessions() override { return sessions_->list_sessions(); }
  Result<bool> delete_session(const std::string& id) override {
    return sessions_->delete_session(id);
  }
  Result<void> update_metadata(const std::string& id, const json& metadata) override {
    return sessions_->update_metadata(id, metadata);
  }
  Result<std::int64_t> append_entry(const std::string& session_id, const Entry& entry) override {
    return sessions_->append_entry(session_id, entry);
  }
  Result<std::vector<Entry>> entries(const std::string& session_id) override {
    return sessions_->entries(session_id);
  }
  Result<std::vector<Entry>> context_entries(const std::string& session_id) override {
    return sessions_->context_entries(session_id);
  }

  // ---- RunStore ----
  Result<RunRecord> create_run(const RunRecord& run) override { return runs_->create_run(run); }
  Result<std::int64_t> append_run_event(const std::string& run_id, const std::string& type,
                                        const json& data) override {
    return runs_->append_run_event(run_id, type, data);
  }
  Result<RunRecord> finish_run(const std::string& run_id, const std::string& status,
                               const json& result, const json& error) override {
    return runs_->finish_run(run_id, status, result, error);
  }
  Result<std::optional<RunRecord>> get_run(const std::string& run_id) override {
    return runs_->get_run(run_id);
  }
  Result<std::vector<RunEvent>> run_events(const std::string& run_id, std::int64_t after,
                                           std::int64_t limit,
                                           const std::vector<std::string>& types) override {
    return runs_->run_events(run_id, after, limit, types);
  }
  Result<RunPage> list_runs(const RunQuery& query) override { return runs_->list_runs(query); }
  Result<NamePage> list_run_workflows(const NameQuery& query) override {
    return runs_->list_run_workflows(query);
  }
  Result<NamePage> list_run_instances(const NameQuery& query) override {
    return runs_->list_run_instances(query);
  }
  Result<std::vector<RunRecord>> end_interrupted_runs(const InterruptedRuns& which) override {
    return runs_->end_interrupted_runs(which);
  }

  // ---- DispatchStore ----
  Result<DispatchItem> enqueue_dispatch(const DispatchItem& item) override {
    return dispatch_->enqueue_dispatch(item);
  }
  Result<std::optional<DispatchItem>> lease_dispatch(std::chrono::milliseconds lease) override {
    return dispatch_->lease_dispatch(lease);
  }
  Result<bool> renew_dispatch(const std::string& id, std::chrono::milliseconds lease) override {
    return dispatch_->renew_dispatch(id, lease);
  }
  Result<void> begin_dispatch_attempt(const std::string& id, std::int64_t entries_before) override {
    return dispatch_->begin_dispatch_attempt(id, entries_before);
  }
  Result<void> finish_dispatch(const std::string& id, const std::string& state,
                               const json& error) override {
    return dispatch_->finish_dispatch(id, state, error);
  }
  Result<std::optional<DispatchItem>> get_dispatch(const std::string& id) override {
    return dispatch_->get_dispatch(id);
  }
  Result<std::int64_t> release_dispatch_leases() override {
    return dispatch_->release_dispatch_leases();
  }
  Result<std::map<std::string, std::int64_t>> dispatch_counts() override {
    return dispatch_->dispatch_counts();
  }
  Result<std::optional<std::int64_t>> oldest_open_dispatch_ms() override {
    return dispatch_->oldest_open_dispatch_ms();
  }

 private:
  std::shared_ptr<SessionStore> sessions_;
  std::shared_ptr<RunStore> runs_;
  std::shared_ptr<DispatchStore> dispatch_;
};

}  // namespace

std::shared_ptr<Store> compose_store(std::shared_ptr<SessionStore> sessions,
                                     std::shared_ptr<RunStore> runs,
                                     std::shared_ptr<DispatchStore> dispatch) {
  return std::make_shared<ComposedStore>(std::move(sessions), std::move(runs), std::move(dispatch));
}

}  // namespace cppflue::store_detail
