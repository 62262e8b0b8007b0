// SPDX-License-Identifier: Apache-2.0
// Workflow "slow": {"steps": N, "ms": M} logs N steps M milliseconds apart (for live tails).
#include <chrono>
#include <thread>

#include "cppflue/harness/app.hpp"

CPPFLUE_WORKFLOW([](cppflue::FlueContext& ctx) -> cppflue::json {
  std::int64_t steps = 3;
  std::int64_t ms = 100;
  if (const auto* s = cppflue::find(ctx.payload(), "steps"); s && s->is_int64())
    steps = s->as_int64();
  if (const auto* m = cppflue::find(ctx.payload(), "ms"); m && m->is_int64()) ms = m->as_int64();
  for (std::int64_t i = 0; i < steps; ++i) {
    ctx.log().info("step", {{"i", i}});
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  return cppflue::json_object{{"steps", steps}};
});
