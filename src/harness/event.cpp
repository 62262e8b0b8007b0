// SPDX-License-Identifier: Apache-2.0
#include "cppflue/harness/event.hpp"

namespace cppflue {

json to_json(const Event& e) {
  json_object out;
  out["type"] = e.type;
  if (e.data.is_object()) {
    for (const auto& kv : e.data.get_object()) out[kv.key()] = kv.value();
  }
  return out;
}

}  // namespace cppflue
