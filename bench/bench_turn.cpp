// SPDX-License-Identifier: Apache-2.0
// Harness overhead per model turn, with the in-process offline model (zero latency), so what is
// measured is CppFlue itself: the operation guard, request building, event emission, the durable
// SQLite append of every entry (WAL commit), and the thread hops of the synchronous API.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cppflue/core/trace.hpp"
#include "cppflue/cppflue.hpp"
#include "cppflue/net/otlp.hpp"
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

// ---- Tracing: the same loop with spans exported over OTLP/HTTP -----------------------------
//
// Registered after the benchmarks above, which run with tracing off (the tracer starts here and
// is not stopped). A prompt of two turns and one tool call makes 4 spans: invoke_agent, 2 chat,
// execute_tool. Compare with BM_AsyncPromptTwoTurnsOneTool: (traced - off) / 4 is the cost of
// one span. "down" and "slow" show that a collector that refuses connections, or answers after
// 500 ms, does not slow the prompts (spans are dropped and counted instead).

// A minimal OTLP receiver: answers every request 200 after `delay_ms`.
class Receiver {
 public:
  explicit Receiver(int delay_ms) : delay_ms_(delay_ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  long requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[65536];
      for (;;) {  // headers, then Content-Length bytes
        auto end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          auto at = in.find("Content-Length: ");
          std::size_t want = at == std::string::npos ? 0 : std::stoul(in.substr(at + 16));
          if (in.size() >= end + 4 + want) break;
        }
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
      (void)!::write(c, reply, sizeof reply - 1);
      ::close(c);
      ++requests_;
    }
  }
  int delay_ms_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long> requests_{0};
  std::thread thread_;
};

void traced_prompts(benchmark::State& state, const std::string& endpoint) {
  cppflue::TelemetryConfig t;
  t.otlp_endpoint = endpoint;
  if (!cppflue::start_telemetry(t).exporting) std::abort();
  auto& tracer = cppflue::trace::Tracer::get();
  const auto dropped = tracer.dropped();
  const auto exported = tracer.exported();
  async_prompts(state, 2);
  tracer.flush(std::chrono::seconds(2));
  state.counters["spans_dropped"] = static_cast<double>(tracer.dropped() - dropped);
  state.counters["spans_exported"] = static_cast<double>(tracer.exported() - exported);
}
void BM_TracedAsyncPromptTwoTurnsOneTool(benchmark::State& state) {
  Receiver receiver(0);
  traced_prompts(state, "http://127.0.0.1:" + std::to_string(receiver.port()));
}
void BM_TracedCollectorDown(benchmark::State& state) {
  int port = 0;
  {
    Receiver gone(0);
    port = gone.port();
  }  // closed: connections are refused
  traced_prompts(state, "http://127.0.0.1:" + std::to_string(port));
}
void BM_TracedCollectorSlow(benchmark::State& state) {
  Receiver slow(500);
  traced_prompts(state, "http://127.0.0.1:" + std::to_string(slow.port()));
}
// The cost a span adds to the thread doing the work: start, the attributes of a chat span,
// end (into the export queue). The export thread's encoding and sending are not counted here.
void BM_SpanOnTheCallingThread(benchmark::State& state) {
  Receiver receiver(0);
  cppflue::TelemetryConfig t;
  t.otlp_endpoint = "http://127.0.0.1:" + std::to_string(receiver.port());
  if (!cppflue::start_telemetry(t).exporting) std::abort();
  cppflue::trace::SpanContext parent;
  {
    auto root = cppflue::trace::Span::start("invoke_agent bench",
                                            cppflue::trace::SpanKind::internal, nullptr);
    parent = root.context();
  }
  for (auto _ : state) {
    auto s = cppflue::trace::Span::start("chat gpt-5", cppflue::trace::SpanKind::client, &parent);
    s.set("gen_ai.operation.name", std::string("chat"));
    s.set("gen_ai.provider.name", std::string("openai"));
    s.set("gen_ai.request.model", std::string("gpt-5"));
    s.set("gen_ai.usage.input_tokens", std::int64_t{1234});
    s.set("gen_ai.usage.output_tokens", std::int64_t{56});
    s.set("gen_ai.response.finish_reasons", std::vector<std::string>{"stop"});
    benchmark::DoNotOptimize(s.context());
    if (state.iterations() % 1000 == 0) {
      state.PauseTiming();  // keep the queue from filling (a full queue would skip the work)
      cppflue::trace::Tracer::get().flush(std::chrono::seconds(5));
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_SpanOnTheCallingThread)->Unit(benchmark::kMicrosecond)->Iterations(20000);
BENCHMARK(BM_TracedAsyncPromptTwoTurnsOneTool)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10)
    ->UseRealTime();
BENCHMARK(BM_TracedCollectorDown)->Unit(benchmark::kMillisecond)->Iterations(10)->UseRealTime();
BENCHMARK(BM_TracedCollectorSlow)->Unit(benchmark::kMillisecond)->Iterations(10)->UseRealTime();

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
