// SPDX-License-Identifier: Apache-2.0
// Emitter: one operation's events, stamped, redacted and delivered to its callbacks in order.
#include <exception>

#include "cppflue/core/clock.hpp"
#include "cppflue/core/log.hpp"
#include "session_internal.hpp"

namespace cppflue {

Emitter::Emitter(std::string session_id, std::string operation_id,
                 std::vector<EventCallback> callbacks)
    : session_id_(std::move(session_id)),
      operation_id_(std::move(operation_id)),
      callbacks_(std::move(callbacks)) {}

void Emitter::set_redactor(std::shared_ptr<const detail::Redactor> r) {
  std::lock_guard lock(mu_);
  redactor_ = std::move(r);
}

void Emitter::emit(const EventPayload& payload) {
  Event e;
  e.type = std::string(event_type(payload));
  json_object fields = event_fields(payload);
  json_object data;
  data["session_id"] = session_id_;
  if (!operation_id_.empty()) data["operation_id"] = operation_id_;
  data["timestamp"] = iso8601_now();
  for (auto& kv : fields) data[kv.key()] = std::move(kv.value());
  e.data = std::move(data);
  std::lock_guard lock(mu_);
  if (redactor_) redactor_->apply(e.data);
  deliver(e, false);
}

void Emitter::forward(const Event& e) {
  std::lock_guard lock(mu_);
  Event copy = e;
  if (redactor_) redactor_->apply(copy.data);
  deliver(copy, true);
}

void Emitter::deliver(const Event& e, bool forwarded) {
  for (const auto& cb : callbacks_) {
    if (!cb) continue;
    try {
      cb(e);
    } catch (const std::exception& ex) {
      if (forwarded) {
        log::get()->warn("event callback threw on forwarded '{}'", e.type);
      } else {
        log::get()->warn("event callback threw on '{}': {}", e.type, ex.what());
      }
    } catch (...) {
      if (forwarded) {
        log::get()->warn("event callback threw on forwarded '{}'", e.type);
      } else {
        log::get()->warn("event callback threw on '{}'", e.type);
      }
    }
  }
}

}  // namespace cppflue
