// SPDX-License-Identifier: Apache-2.0
// An agent prompt as a background run (POST /agents/{name}/{id} with X-Webhook: true): once the
// prompt is accepted, the run and its run_start event are stored and the prompt goes to the
// background; each event of the prompt is stored as a run event, and its end as the run's status
// (completed, failed or aborted) and run_end.
#pragma once

#include <memory>
#include <string>

#include "cppflue/store/store.hpp"
#include "server/prompt_runner.hpp"
#include "server/run_hub.hpp"

namespace cppflue::server {

class PromptRunSink final : public PromptSink {
 public:
  PromptRunSink(std::shared_ptr<Store> store, std::shared_ptr<RunHub> hub)
      : store_(std::move(store)), hub_(std::move(hub)) {}
  // The run's id (once accepted).
  const std::string& run_id() const { return run_id_; }

  boost::asio::awaitable<Next> accepted(const PromptTarget& target) override;
  void event(const Event& e) override;
  void finished(const PromptTarget& target, const PromptOutcome& outcome) override;

 private:
  // Stores one run event and wakes the run's followers (a failure is logged).
  void record(const std::string& type, const json& data);

  std::shared_ptr<Store> store_;
  std::shared_ptr<RunHub> hub_;
  std::string run_id_;
};

}  // namespace cppflue::server
