// SPDX-License-Identifier: Apache-2.0
// Many connections from one thread, for the server's load tests and benchmarks: a batch of
// concurrent requests (all sent before any answer is read), a crowd of SSE clients held open,
// the RSS of a process, and the file-descriptor limit.
#pragma once

#include <sys/resource.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "server/serve_util.hpp"

namespace cppflue::serve_testing {

// Raises this process's soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
inline long raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
  ::getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<long>(r.rlim_cur);
}

// VmRSS of `pid` in KiB (-1 when unknown).
inline long rss_kb(pid_t pid) {
  std::istringstream in(
      cppflue::testing::read_proc_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A non-blocking loopback connection (connect in progress is fine).
inline int connect_nonblocking(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Connections that each send one request and collect what comes back.
class Crowd {
 public:
  Crowd() = default;
  ~Crowd() { close_all(); }
  Crowd(const Crowd&) = delete;
  Crowd& operator=(const Crowd&) = delete;

  // Opens one connection per request; nothing is read yet.
  void open(int port, const std::vector<std::string>& requests) {
    for (const auto& r : requests) {
      Conn c;
      c.fd = connect_nonblocking(port);
      c.out = r;
      conns_.push_back(std::move(c));
    }
  }
  std::size_t size() const { return conns_.size(); }
  int failed_connects() const {
    int n = 0;
    for (const auto& c : conns_) n += c.fd < 0;
    return n;
  }
  const std::string& received(std::size_t i) const { return conns_[i].in; }
  bool closed_by_peer(std::size_t i) const { return conns_[i].eof; }

  // Sends and reads until `done(i)` holds for every connection, or the timeout; returns how
  // many satisfy it.
  template <typename Done>
  std::size_t pump(Done done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<pollfd> fds;
    std::vector<std::size_t> index;
    char buf[16384];
    for (;;) {
      fds.clear();
      index.clear();
      std::size_t satisfied = 0;
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        Conn& c = conns_[i];
        if (done(i)) {
          ++satisfied;
          continue;
        }
        if (c.fd < 0 || c.eof) continue;
        short events = POLLIN;
        if (c.sent < c.out.size()) events |= POLLOUT;
        fds.push_back({c.fd, events, 0});
        index.push_back(i);
      }
      if (satisfied == conns_.size() || fds.empty()) return satisfied;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return satisfied;
      int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long>(left.count(), 100)));
      if (n <= 0) continue;
      for (std::size_t k = 0; k < fds.size(); ++k) {
        Conn& c = conns_[index[k]];
        if (fds[k].revents & POLLOUT) {
          ssize_t w = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
          if (w > 0) c.sent += static_cast<std::size_t>(w);
        }
        if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
          if (r > 0) {
            c.in.append(buf, static_cast<std::size_t>(r));
          } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            c.eof = true;
          }
        }
      }
    }
  }

  // Closes every connection abruptly (mid-stream for SSE clients).
  void close_all() {
    for (auto& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
    }
    conns_.clear();
  }

 private:
  struct Conn {
    int fd = -1;
    std::string out;
    std::size_t sent = 0;
    std::string in;
    bool eof = false;
  };
  std::vector<Conn> conns_;
};

}  // namespace cppflue::serve_testing
