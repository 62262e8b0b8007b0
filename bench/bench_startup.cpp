// SPDX-License-Identifier: Apache-2.0
// Start-up cost of the `cppflue` binary: `--version`; a one-turn `run` against a local fake
// OpenAI-compatible provider (a thread of this program), in a project that exists and in a fresh
// one; and the resident memory of an idle `serve`. Every binary given is measured in the same
// run, alternately, so the machine's state is the same for all. Prints medians; asserts nothing.
//
//   bench_startup NEW_CPPFLUE [OLD_CPPFLUE] [runs (default 40)]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// ---- the fake provider: one answer per connection, streamed or not ----

std::string chat_answer(bool stream) {
  if (!stream) {
    std::string body =
        R"({"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,)"
        R"("message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],)"
        R"("usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11}})";
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  std::string body =
      "data: "
      R"({"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,)"
      R"("delta":{"role":"assistant","content":"hello"},"finish_reason":null}]})"
      "\n\ndata: "
      R"({"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,)"
      R"("delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,)"
      R"("completion_tokens":1,"total_tokens":11}})"
      "\n\ndata: [DONE]\n\n";
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

class FakeProvider {
 public:
  FakeProvider() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 64) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("fake provider");
      std::exit(1);
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeProvider() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[8192];
      std::size_t need = std::string::npos;
      while (need == std::string::npos || req.size() < need) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
        auto end = req.find("\r\n\r\n");
        if (end != std::string::npos && need == std::string::npos) {
          auto cl = req.find("Content-Length: ");
          if (cl == std::string::npos) cl = req.find("content-length: ");
          need = end + 4 +
                 (cl == std::string::npos ? 0 : std::strtoul(req.c_str() + cl + 16, nullptr, 10));
        }
      }
      std::string answer = chat_answer(req.find("\"stream\":true") != std::string::npos);
      [[maybe_unused]] auto w = ::write(c, answer.data(), answer.size());
      ::close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---- running the binary ----

// Runs `argv` in `cwd` with `env`, output discarded; the wall-clock time in ms (< 0: failed).
double timed_run(const std::vector<std::string>& argv, const fs::path& cwd,
                 const std::vector<std::string>& env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<std::string> a = argv, e = env;
  std::vector<char*> ap, ep;
  for (auto& s : a) ap.push_back(s.data());
  ap.push_back(nullptr);
  for (auto& s : e) ep.push_back(s.data());
  ep.push_back(nullptr);
  auto t0 = Clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, ap[0], &actions, nullptr, ap.data(), ep.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> base_env() {
  return {"PATH=/usr/bin:/bin", "HOME=/tmp", "FAKE_KEY=sk-bench", "NO_COLOR=1"};
}

void write_project(const fs::path& dir, int port) {
  fs::create_directories(dir);
  std::ofstream(dir / "cppflue.toml") << "[providers.fake]\napi = \"openai-chat\"\n"
                                      << "base_url = \"http://127.0.0.1:" << port << "/v1\"\n"
                                      << "api_key_env = \"FAKE_KEY\"\n";
}

// `serve --port 0` in `dir`: the resident set (kB) of the idle server after one /health.
struct Rss {
  long total = -1, anon = -1, file = -1;
};

long status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
  }
  return -1;
}

Rss idle_serve(const std::string& bin, const fs::path& dir) {
  int out[2];
  if (::pipe(out) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  std::vector<std::string> a = {bin, "serve", "--port", "0", "-m", "test:echo"}, e = base_env();
  std::vector<char*> ap, ep;
  for (auto& s : a) ap.push_back(s.data());
  ap.push_back(nullptr);
  for (auto& s : e) ep.push_back(s.data());
  ep.push_back(nullptr);
  pid_t pid = -1;
  ::posix_spawn(&pid, ap[0], &actions, nullptr, ap.data(), ep.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  int port = 0;
  char buf[4096];
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (port == 0 && Clock::now() < deadline) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    auto at = text.find("127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(text.c_str() + at + 10);
  }
  Rss r;
  if (port > 0) {
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      [[maybe_unused]] auto w = ::write(c, req, sizeof req - 1);
      while (::read(c, buf, sizeof buf) > 0) {
      }
    }
    ::close(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    r.total = status_kb(pid, "VmRSS:");
    r.anon = status_kb(pid, "RssAnon:");
    r.file = status_kb(pid, "RssFile:");
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(out[0]);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> bins;
  int runs = 40;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos) {
      runs = std::atoi(a.c_str());
    } else {
      bins.push_back(fs::absolute(a).string());
    }
  }
  if (bins.empty()) {
    std::fprintf(stderr, "usage: bench_startup NEW_CPPFLUE [OLD_CPPFLUE] [runs]\n");
    return 2;
  }
  FakeProvider fake;
  fs::path root = fs::temp_directory_path() / ("cppflue-bench-startup-" + std::to_string(getpid()));
  std::vector<fs::path> projects;
  for (std::size_t b = 0; b < bins.size(); ++b) {
    projects.push_back(root / ("project-" + std::to_string(b)));
    write_project(projects.back(), fake.port());
  }
  struct Figures {
    std::vector<double> version, run_existing, run_fresh;
  };
  std::vector<Figures> figures(bins.size());
  int fresh_n = 0;
  for (int i = 0; i < runs + 3; ++i) {
    for (std::size_t b = 0; b < bins.size(); ++b) {
      const bool warm_up = i < 3;
      double v = timed_run({bins[b], "--version"}, projects[b], base_env());
      double r = timed_run({bins[b], "run", "-m", "fake:m", "-p", "hi"}, projects[b], base_env());
      fs::path fresh = root / ("fresh-" + std::to_string(fresh_n++));
      write_project(fresh, fake.port());
      double f = timed_run({bins[b], "run", "-m", "fake:m", "-p", "hi"}, fresh, base_env());
      if (v < 0 || r < 0 || f < 0) {
        std::fprintf(stderr, "%s failed (version %.1f, run %.1f, fresh %.1f)\n", bins[b].c_str(), v,
                     r, f);
        return 1;
      }
      if (warm_up) continue;
      figures[b].version.push_back(v);
      figures[b].run_existing.push_back(r);
      figures[b].run_fresh.push_back(f);
    }
  }
  std::printf("%d runs each, alternating; medians of wall-clock time (posix_spawn to exit)\n",
              runs);
  for (std::size_t b = 0; b < bins.size(); ++b) {
    Rss rss = idle_serve(bins[b], projects[b]);
    std::printf("%s\n", bins[b].c_str());
    std::printf("  --version                         %7.2f ms\n", median(figures[b].version));
    std::printf("  run, one turn, fake provider      %7.2f ms (existing project)\n",
                median(figures[b].run_existing));
    std::printf("  run, one turn, fake provider      %7.2f ms (fresh project)\n",
                median(figures[b].run_fresh));
    std::printf("  idle serve RSS                    %7.1f MiB (anon %.1f, file %.1f)\n",
                static_cast<double>(rss.total) / 1024, static_cast<double>(rss.anon) / 1024,
                static_cast<double>(rss.file) / 1024);
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
