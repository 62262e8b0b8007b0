// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/event.hpp — what an agent reports while it works (docs/reference/events.md).
//
// Every event has a `type` and a `data` object holding its fields, including the common ones
// (`session_id`, `operation_id` while an operation runs, `timestamp`, `instance_id`/`run_id`
// when known). `to_json` gives the wire form {"type": ..., ...fields} used by the CLI's
// `--stream` output, SSE and WebSocket.
#pragma once

#include <functional>
#include <string>

#include "cppflue/core/json.hpp"

namespace cppflue {

struct Event {
  std::string type;
  json data = json_object{};
};

json to_json(const Event& e);

using EventCallback = std::function<void(const Event&)>;

}  // namespace cppflue
