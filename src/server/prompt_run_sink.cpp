// SPDX-License-Identifier: Apache-2.0
#include "server/prompt_run_sink.hpp"

#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/event.hpp"

namespace cppflue::server {

asio::awaitable<PromptSink::Next> PromptRunSink::accepted(const PromptTarget& target) {
  RunRecord rec;
  rec.id = new_hex_id("run_", 24);
  rec.workflow = target.agent_name;
  rec.instance_id = target.instance_id;
  rec.payload = target.payload;
  auto created = store_->create_run(rec);
  if (!created) throw Exception(created.error());
  run_id_ = rec.id;
  events::RunStart start{run_id_, std::nullopt, target.agent_name, target.instance_id,
                         target.session_id};
  auto started = store_->append_run_event(run_id_, std::string(start.type), event_fields(start));
  if (!started) throw Exception(started.error());
  hub_->notify(run_id_);
  co_return Next::detach;
}

void PromptRunSink::event(const Event& e) {
  json data = to_json(e);
  if (data.is_object()) data.as_object().erase("type");
  record(e.type, data);
}

void PromptRunSink::finished(const PromptTarget&, const PromptOutcome& outcome) {
  json result = outcome.result ? result_json(*outcome.result) : json(nullptr);
  json error = nullptr;
  std::string status = "completed";
  if (outcome.error) {
    error =
        json_object{{"type", wire_name(outcome.error->type)}, {"message", outcome.error->message}};
    status = outcome.error->type == ErrorType::cancelled ? "aborted" : "failed";
  }
  // The status first: whoever sees run_end and then reads the run finds it ended.
  auto ended = store_->finish_run(run_id_, status, result, error);
  if (!ended) {
    log::get()->error("run {}: cannot record its end: {}", run_id_, ended.error().message);
  }
  // Already ended as interrupted (the server stopped first): that has its run_end.
  if (ended && !ended_as_asked(*ended, status, error)) return;
  const events::RunEnd end{run_id_, status, !error.is_null(), result, error};
  record(std::string(end.type), event_fields(end));
}

void PromptRunSink::record(const std::string& type, const json& data) {
  if (auto r = store_->append_run_event(run_id_, type, data); !r) {
    log::get()->error("run {}: cannot record '{}': {}", run_id_, type, r.error().message);
  }
  hub_->notify(run_id_);
}

}  // namespace cppflue::server
