// SPDX-License-Identifier: Apache-2.0
// `cppflue serve` under load, with the offline test: model (each prompt is 2 model calls and 1
// glob tool call, as the issue asks). Prints figures; never fails on timing.
//
//   bench_server [--binary PATH] [--seconds S] [--conversations N] [--streams N]
//
// 1. idle RSS after start;
// 2. saturated prompts/s and p50/p99 latency with 1, 10 and 100 concurrent clients (each a
//    keep-alive connection; every prompt goes to a new session of the client's instance, so
//    each does the same work);
// 3. RSS per idle conversation after N conversations (N distinct instances, one prompt each);
// 4. concurrent SSE streams held on one running run (GET /runs/{id}/stream), and RSS with them.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "server/load_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// One keep-alive client: a request, then exactly one Content-Length response.
class KeepAlive {
 public:
  explicit KeepAlive(int port) : fd_(connect_to(port)) {}
  ~KeepAlive() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Returns the status (0 on a broken connection) and fills `body`.
  int exchange(const std::string& raw, std::string& body) {
    if (!send_all(fd_, raw)) return 0;
    std::string in;
    char buf[16384];
    for (;;) {
      auto end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto at = in.find("Content-Length: ");
        if (at == std::string::npos || at > end) at = in.find("content-length: ");
        std::size_t length = at == std::string::npos ? 0 : std::stoul(in.substr(at + 16));
        if (in.size() >= end + 4 + length) {
          body = in.substr(end + 4, length);
          return std::stoi(in.substr(9, 3));
        }
      }
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return 0;
      in.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
};

std::string keep_alive_post(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

struct LoadResult {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long prompts = 0;
  long errors = 0;
};

LoadResult saturate(int port, int clients, std::chrono::seconds duration, std::atomic<long>& seq,
                    const std::string& message) {
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(clients));
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  auto stop_at = start + duration;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      KeepAlive conn(port);
      if (!conn.ok()) {
        ++errors;
        return;
      }
      std::string body;
      while (Clock::now() < stop_at) {
        std::string payload =
            R"({"message":")" + message + R"(","session":"p)" + std::to_string(seq++) + "\"}";
        auto t0 = Clock::now();
        int status =
            conn.exchange(keep_alive_post("/agents/bench/c" + std::to_string(c), payload), body);
        auto t1 = Clock::now();
        if (status != 200) {
          ++errors;
          if (status == 0) return;
          continue;
        }
        latencies[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  LoadResult r;
  r.prompts = static_cast<long>(all.size());
  r.errors = errors;
  r.per_second = static_cast<double>(all.size()) / seconds;
  r.p50_ms = percentile(all, 0.50);
  r.p99_ms = percentile(all, 0.99);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary = CPPFLUE_BINARY;
  int seconds = 5;
  int conversations = 10000;
  int streams = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--binary")
      binary = argv[i + 1];
    else if (flag == "--seconds")
      seconds = std::stoi(argv[i + 1]);
    else if (flag == "--conversations")
      conversations = std::stoi(argv[i + 1]);
    else if (flag == "--streams")
      streams = std::stoi(argv[i + 1]);
    else {
      std::cerr << "usage: bench_server [--binary PATH] [--seconds S] [--conversations N] "
                   "[--streams N]\n";
      return 2;
    }
  }
  long fd_limit = raise_fd_limit();
  cppflue::testing::TempDir dir;
  auto root = dir.path();
  cppflue::testing::write_file(root / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  cppflue::testing::write_file(root / ".agents/agents/bench.md",
                               "---\nname: bench\ndescription: bench\n---\nYou help.\n");
  auto script = root / "forever.json";
  cppflue::testing::write_file(script, R"({"turns":[{"text":"late","delay_ms":600000}]})");
  cppflue::testing::write_file(
      root / ".agents/agents/forever.md",
      "---\nname: forever\ndescription: slow\nmodel: test:" + script.string() + "\n---\nWait.\n");
  ServeProcess server(root, {}, {}, binary);
  if (server.port() == 0) {
    std::cerr << "bench_server: the server did not start:\n" << server.output();
    return 1;
  }
  int port = server.port();
  std::this_thread::sleep_for(1s);
  long idle = rss_kb(server.pid());
  std::printf("binary: %s\nfd limit: %ld\n\n", binary.c_str(), fd_limit);
  std::printf("idle RSS after start: %.1f MiB\n", idle / 1024.0);

  // The prompt is what the offline model answers with a glob call and then a summary.
  const std::string message = "list the files";
  {
    KeepAlive conn(port);
    std::string body;
    int status = conn.exchange(
        keep_alive_post("/agents/bench/check", R"({"message":"list the files"})"), body);
    auto parsed = parse_json(body);
    std::int64_t turns = 0;
    if (parsed) {
      if (const json* t = find(parsed->at("result").at("metadata"), "turns")) turns = t->as_int64();
    }
    std::printf("one prompt: HTTP %d, %lld model calls (1 tool call between them)\n\n", status,
                static_cast<long long>(turns));
  }

  std::atomic<long> seq{0};
  saturate(port, 10, 1s, seq, message);  // warm-up
  std::printf("| clients | prompts/s | p50 ms | p99 ms | prompts | errors |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int clients : {1, 10, 100}) {
    LoadResult r = saturate(port, clients, std::chrono::seconds(seconds), seq, message);
    std::printf("| %d | %.0f | %.2f | %.2f | %ld | %ld |\n", clients, r.per_second, r.p50_ms,
                r.p99_ms, r.prompts, r.errors);
    std::fflush(stdout);
  }
  long after_load = rss_kb(server.pid());
  std::printf("\nRSS after the load: %.1f MiB\n", after_load / 1024.0);

  // Idle conversations: N instances with one short prompt each.
  std::fflush(stdout);
  long before_conv = rss_kb(server.pid());
  std::atomic<int> next{0};
  std::atomic<long> conv_errors{0};
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < 10; ++c) {
    threads.emplace_back([&] {
      KeepAlive conn(port);
      std::string body;
      for (int i = next++; i < conversations; i = next++) {
        if (conn.exchange(
                keep_alive_post("/agents/bench/user-" + std::to_string(i), R"({"message":"hi"})"),
                body) != 200) {
          ++conv_errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double conv_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (conv_errors > 0) {
    std::string log = server.output();
    std::printf("server log (tail):\n%s\n",
                log.substr(log.size() > 1500 ? log.size() - 1500 : 0).c_str());
  }
  std::this_thread::sleep_for(1s);
  long after_conv = rss_kb(server.pid());
  std::printf(
      "%d conversations (distinct instances, 1 prompt each) in %.1f s, %ld errors: RSS "
      "%.1f → %.1f MiB, %.1f KiB per idle conversation\n",
      conversations, conv_seconds, conv_errors.load(), before_conv / 1024.0, after_conv / 1024.0,
      static_cast<double>(after_conv - before_conv) / std::max(1, conversations));

  // SSE streams held on one running run.
  auto started = call(port, "POST", "/agents/forever/x", R"({"message":"go"})", "application/json",
                      "X-Webhook: true\r\n");
  if (started.status != 202) {
    std::printf("could not start the long run: %s\n", started.body.c_str());
    return 0;
  }
  std::string run_id(started.json_body.at("run_id").as_string());
  long before_sse = rss_kb(server.pid());
  Crowd crowd;
  const std::string follow = request("GET", "/runs/" + run_id + "/stream", "", "");
  auto t1 = Clock::now();
  std::size_t held = 0;
  for (int opened = 0; opened < streams; opened += 1000) {
    crowd.open(port, std::vector<std::string>(
                         static_cast<std::size_t>(std::min(1000, streams - opened)), follow));
    held = crowd.pump(
        [&](std::size_t i) {
          return crowd.received(i).find("event: run_start") != std::string::npos;
        },
        30s);
    if (held < crowd.size()) {
      std::printf("  only %zu of %zu streams started; stopping there\n", held, crowd.size());
      break;
    }
  }
  double sse_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  long with_sse = rss_kb(server.pid());
  std::printf(
      "SSE streams held: %zu of %d (connect failures %d) in %.1f s; RSS %.1f → %.1f MiB "
      "(%.1f KiB per stream)\n",
      held, streams, crowd.failed_connects(), sse_seconds, before_sse / 1024.0, with_sse / 1024.0,
      static_cast<double>(with_sse - before_sse) / std::max<std::size_t>(1, held));
  std::this_thread::sleep_for(2s);  // heartbeats and store polls while they are all open
  auto health = call(port, "GET", "/health");
  std::printf("GET /health with them open: HTTP %d\n", health.status);
  crowd.close_all();
  for (int waited : {1, 5, 20}) {
    std::this_thread::sleep_for(std::chrono::seconds(waited == 1 ? 1 : waited == 5 ? 4 : 15));
    std::error_code ec;
    std::size_t fds = 0;
    for (auto it = std::filesystem::directory_iterator(
             "/proc/" + std::to_string(server.pid()) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++fds;
    }
    std::printf("RSS %d s after they disconnected: %.1f MiB (server fds open: %zu)\n", waited,
                rss_kb(server.pid()) / 1024.0, fds);
  }
  server.stop();
  return 0;
}
