// SPDX-License-Identifier: Apache-2.0
// Harness overhead per model turn, with the in-process offline model (zero latency), so what is
// measured is CppFlue itself: the operation guard, request building, event emission, the durable
// SQLite append of every entry (WAL commit), and the thread hops of the synchronous API.
#include <benchmark/benchmark.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cppflue/cppflue.hpp"
#include "cppflue/store/store.hpp"

namespace {

std::filesystem::path make_project(const std::string& script) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cppflue-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) std::abort();
  std::filesystem::path dir(tmpl);
  std::ofstream(dir / "script.json") << script;
  return dir;
}

cppflue::ToolDefinition echo_tool() {
  cppflue::ToolDefinition t;
  t.name = "echo";
  t.description = "Echoes its input.";
  t.execute = [](const cppflue::json& args, cppflue::ToolContext&) { return args; };
  return t;
}

// One prompt = one model turn (text answer), through the synchronous API (which includes
// waking the calling thread when the runtime is done). The session keeps growing, as a real
// conversation does.
void BM_PromptOneTurn(benchmark::State& state) {
  auto dir = make_project(R"({"turns":[{"text":"ok"}]})");
  cppflue::InitOptions o;
  o.root = dir.string();
  o.model = "test:" + (dir / "script.json").string();
  auto agent = cppflue::init(o);
  auto session = agent.session("bench");
  for (auto _ : state) {
    auto r = session.prompt("hello");
    benchmark::DoNotOptimize(r.text);
  }
  state.counters["turns"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PromptOneTurn)->Unit(benchmark::kMicrosecond)->Iterations(2000);

// One prompt = two model turns and one tool call (4 durable entries).
void BM_PromptWithTool(benchmark::State& state) {
  auto dir = make_project(
      R"({"turns":[{"text":"","tool_calls":[{"name":"echo","arguments":{"x":1}}]},{"text":"done"}]})");
  cppflue::InitOptions o;
  o.root = dir.string();
  o.model = "test:" + (dir / "script.json").string();
  o.tools = {echo_tool()};
  auto agent = cppflue::init(o);
  int n = 0;
  for (auto _ : state) {
    // A fresh session per iteration keeps the history (and request size) constant.
    auto session = agent.session("bench-" + std::to_string(n++));
    auto r = session.prompt("hello");
    benchmark::DoNotOptimize(r.text);
  }
  state.counters["turns"] = benchmark::Counter(2.0 * static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PromptWithTool)->Unit(benchmark::kMicrosecond)->Iterations(1000);

// Prompts issued from inside the runtime (async API): no cross-thread wake-up of a waiting
// caller, so this is the loop's own cost. `turns` = 1 (text answer) or 2 (a tool call, then the
// answer); the difference between the two is the cost of one more turn with one tool call.
void async_prompts(benchmark::State& state, int turns) {
  auto dir = make_project(
      turns == 1
          ? R"({"turns":[{"text":"ok"}]})"
          : R"({"turns":[{"text":"","tool_calls":[{"name":"echo","arguments":{"x":1}}]},{"text":"done"}]})");
  auto runtime = std::make_shared<cppflue::Runtime>(cppflue::RuntimeOptions{.io_threads = 1});
  cppflue::InitOptions o;
  o.root = dir.string();
  o.model = "test:" + (dir / "script.json").string();
  o.runtime = runtime;
  o.tools = {echo_tool()};
  auto agent = cppflue::init(o);
  const int batch = 200;
  int n = 0;
  for (auto _ : state) {
    // Fresh sessions keep the history, and so the request size, constant.
    state.PauseTiming();
    std::vector<cppflue::Session> sessions;
    for (int i = 0; i < batch; ++i)
      sessions.push_back(agent.session("async-" + std::to_string(n++)));
    state.ResumeTiming();
    auto run_batch = [&sessions]() -> boost::asio::awaitable<void> {
      for (auto& s : sessions) co_await s.async_prompt("hello");
    };
    auto fut = boost::asio::co_spawn(runtime->executor(), run_batch(), boost::asio::use_future);
    fut.get();
  }
  state.counters["us_per_prompt"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::filesystem::remove_all(dir);
}
void BM_AsyncPromptOneTurn(benchmark::State& state) {
  async_prompts(state, 1);
}
void BM_AsyncPromptTwoTurnsOneTool(benchmark::State& state) {
  async_prompts(state, 2);
}
BENCHMARK(BM_AsyncPromptOneTurn)->Unit(benchmark::kMillisecond)->Iterations(10)->UseRealTime();
BENCHMARK(BM_AsyncPromptTwoTurnsOneTool)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10)
    ->UseRealTime();

// The durable write alone: one committed entry (a short assistant message).
void BM_StoreAppend(benchmark::State& state) {
  auto dir = make_project("{}");
  auto store = cppflue::open_sqlite_store(dir / "state.db");
  if (!store) std::abort();
  (void)(*store)->open_session("s", {});
  cppflue::Message m;
  m.role = cppflue::Role::assistant;
  m.text = "The answer is 42.";
  cppflue::Entry e;
  e.kind = "message";
  e.role = "assistant";
  e.content = cppflue::to_json(m);
  for (auto _ : state) {
    auto r = (*store)->append_entry("s", e);
    benchmark::DoNotOptimize(r);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreAppend)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
