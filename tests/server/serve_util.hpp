// SPDX-License-Identifier: Apache-2.0
// Helpers for black-box server tests: the real binary on an ephemeral loopback port
// (ServeProcess), raw-socket requests (call, roundtrip) and an incremental SSE reader.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "support/test_util.hpp"

namespace cppflue::serve_testing {

using namespace std::chrono_literals;

// A project at `root` with `toml` as its cppflue.toml and the Markdown agent "helper".
inline void write_helper_project(const std::filesystem::path& root,
                                 const std::string& toml = "[agent]\nmodel = \"test:demo\"\n") {
  cppflue::testing::write_file(root / "cppflue.toml", toml);
  cppflue::testing::write_file(root / ".agents/agents/helper.md",
                               "---\nname: helper\ndescription: helps\n---\nYou help.\n");
}

// `BINARY serve --port 0 ARGS...` (or `dev`) in `root` with `env` added; SIGTERM on destruction.
class ServeProcess {
 public:
  explicit ServeProcess(const std::filesystem::path& root, std::vector<std::string> args = {},
                        std::map<std::string, std::string> env = {},
                        std::string binary = CPPFLUE_BINARY, std::string command = "serve") {
    // Output goes to a file, so a chatty server never blocks on a full pipe.
    char log_template[] = "/tmp/cppflue-serve-XXXXXX";
    int log_fd = ::mkstemp(log_template);
    if (log_fd < 0) return;
    log_path_ = log_template;
    std::vector<std::string> argv_s{binary, command, "--port", "0", "--grace", "2"};
    for (auto& a : args) argv_s.push_back(std::move(a));
    pid_ = ::fork();
    if (pid_ == 0) {
      if (::chdir(root.c_str()) != 0) ::_exit(126);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      std::string text = drain_output();
      auto at = text.find("listening on http://");
      auto colon = at == std::string::npos ? at : text.find(':', at + 20);
      auto eol = colon == std::string::npos ? colon : text.find('\n', colon);
      if (eol != std::string::npos) {
        port_ = std::stoi(text.substr(colon + 1, eol - colon - 1));
        break;
      }
      if (!alive()) break;
      ::usleep(10000);
    }
  }
  ~ServeProcess() {
    stop();
    if (!log_path_.empty()) ::unlink(log_path_.c_str());
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string output() const { return read_log(); }
  // False once the process has exited (it is reaped then; see exit_status()).
  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    pid_ = -1;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  int exit_status() const { return status_; }
  // Everything the process printed so far.
  std::string drain_output() const { return read_log(); }

  // SIGTERM (or `sig`); the exit status (128 + signal when killed by one, -1 when it had to
  // be killed after 5 s).
  int stop(int sig = SIGTERM) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return status_;
      }
      ::usleep(10000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    status_ = -1;
    return status_;
  }

 private:
  std::string read_log() const {
    std::string out;
    int fd = ::open(log_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = -1;
  std::string log_path_;
};

// A JSON value as text: a string's own text, anything else serialised.
inline std::string str(const json& v) {
  return v.is_string() ? std::string(v.as_string()) : serialize(v);
}

inline int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& raw) {
  std::size_t sent = 0;
  while (sent < raw.size()) {
    ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Sends `raw` and reads until the server closes (or `timeout`).
inline std::string roundtrip(int port, const std::string& raw,
                             std::chrono::milliseconds timeout = 20000ms) {
  int fd = connect_to(port);
  if (fd < 0) return "";
  send_all(fd, raw);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[8192];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

struct Response {
  int status = 0;
  std::string head;
  std::string body;  // de-chunked
  json json_body;
  // The value of header `name` (case-insensitive), "" when absent.
  std::string header(std::string_view name) const {
    std::string lower_head = head;
    for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string key = "\r\n";
    for (char c : name) key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    key += ":";
    auto at = lower_head.find(key);
    if (at == std::string::npos) return "";
    auto start = at + key.size();
    auto end = head.find("\r\n", start);
    std::string v = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// De-chunks a chunked body (as far as it is complete).
inline std::string dechunk(const std::string& rest) {
  std::string body;
  std::size_t at = 0;
  while (at < rest.size()) {
    auto eol = rest.find("\r\n", at);
    if (eol == std::string::npos) break;
    std::size_t size = 0;
    try {
      size = std::stoul(rest.substr(at, eol - at), nullptr, 16);
    } catch (...) {
      break;
    }
    if (size == 0 || eol + 2 + size > rest.size()) break;
    body += rest.substr(eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return body;
}

inline Response parse_response(const std::string& raw) {
  Response r;
  auto end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.head = raw.substr(0, end);
  std::string rest = raw.substr(end + 4);
  std::string lower = r.head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  r.body = lower.find("transfer-encoding: chunked") != std::string::npos ? dechunk(rest) : rest;
  auto parsed = parse_json(r.body);
  if (parsed) r.json_body = *parsed;
  return r;
}

inline std::string request(const std::string& method, const std::string& target,
                           const std::string& body = "",
                           const std::string& content_type = "application/json",
                           const std::string& extra_headers = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!content_type.empty()) r += "Content-Type: " + content_type + "\r\n";
  if (!body.empty() || method == "POST")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers + "\r\n" + body;
  return r;
}

inline Response call(int port, const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::string& content_type = "application/json",
                     const std::string& extra_headers = "") {
  return parse_response(
      roundtrip(port, request(method, target, body, content_type, extra_headers)));
}

struct SseEvent {
  std::string id;
  std::string event = "message";
  std::string data;
  json json_data;
};

// An SSE response read incrementally: next() returns events as they arrive.
class SseReader {
 public:
  SseReader(int port, const std::string& raw_request) {
    fd_ = connect_to(port);
    if (fd_ >= 0) send_all(fd_, raw_request);
  }
  ~SseReader() { close(); }
  SseReader(const SseReader&) = delete;
  SseReader& operator=(const SseReader&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int status() const { return status_; }
  const std::string& head() const { return head_; }
  const std::vector<std::string>& comments() const { return comments_; }
  bool ended() const { return ended_; }

  // The next event, or nullopt on timeout / end of stream.
  std::optional<SseEvent> next(std::chrono::milliseconds timeout = 10000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto e = take()) return e;
      if (ended_ || fd_ < 0) return std::nullopt;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 50))) <= 0) continue;
      char buf[8192];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        ended_ = true;
        continue;
      }
      raw_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Events until one of type `until` (included) or the end/timeout.
  std::vector<SseEvent> collect(const std::string& until,
                                std::chrono::milliseconds timeout = 20000ms) {
    std::vector<SseEvent> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (!e) break;
      out.push_back(*e);
      if (e->event == until) break;
    }
    return out;
  }

 private:
  // Parses what has arrived: the head once, then chunks into text, then events.
  std::optional<SseEvent> take() {
    if (status_ == 0) {
      auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return std::nullopt;
      head_ = raw_.substr(0, end);
      status_ = std::stoi(head_.substr(9, 3));
      raw_.erase(0, end + 4);
      std::string lower = head_;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      chunked_ = lower.find("transfer-encoding: chunked") != std::string::npos;
    }
    if (chunked_) {
      for (;;) {
        auto eol = raw_.find("\r\n");
        if (eol == std::string::npos) break;
        std::size_t size = std::stoul(raw_.substr(0, eol), nullptr, 16);
        if (size == 0) {
          ended_ = true;
          raw_.clear();
          break;
        }
        if (raw_.size() < eol + 2 + size + 2) break;
        text_ += raw_.substr(eol + 2, size);
        raw_.erase(0, eol + 2 + size + 2);
      }
    } else {
      text_ += raw_;
      raw_.clear();
    }
    for (;;) {
      auto end = text_.find("\n\n");
      if (end == std::string::npos) return std::nullopt;
      std::string block = text_.substr(0, end);
      text_.erase(0, end + 2);
      SseEvent e;
      bool any = false;
      std::size_t at = 0;
      while (at <= block.size()) {
        auto eol = block.find('\n', at);
        std::string line =
            block.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
        at = eol == std::string::npos ? block.size() + 1 : eol + 1;
        if (line.empty()) continue;
        if (line[0] == ':') {
          comments_.push_back(line);
          continue;
        }
        auto colon = line.find(':');
        std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (field == "event") e.event = value, any = true;
        if (field == "id") e.id = value, any = true;
        if (field == "data") e.data += (e.data.empty() ? "" : "\n") + value, any = true;
      }
      if (!any) continue;
      if (auto parsed = parse_json(e.data)) e.json_data = *parsed;
      return e;
    }
  }

  int fd_ = -1;
  int status_ = 0;
  bool chunked_ = false;
  bool ended_ = false;
  std::string raw_;
  std::string text_;
  std::string head_;
  std::vector<std::string> comments_;
};

// A minimal WebSocket client (RFC 6455 text frames, masked) over a raw socket.
class WsClient {
 public:
  WsClient(int port, const std::string& path, const std::string& extra_headers = "") {
    fd_ = connect_to(port);
    if (fd_ < 0) return;
    send_all(fd_, "GET " + path +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: "
                      "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n" +
                      extra_headers + "\r\n");
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        head_ = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        status_ = std::stoi(head_.substr(9, 3));
        return;
      }
      if (!fill(deadline)) return;
    }
  }
  ~WsClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  int status() const { return status_; }
  const std::string& head() const { return head_; }

  bool send_text(const std::string& text) {
    std::string frame;
    frame.push_back(static_cast<char>(0x81));
    std::size_t n = text.size();
    if (n < 126) {
      frame.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>((n >> 8) & 0xff));
      frame.push_back(static_cast<char>(n & 0xff));
    } else {
      frame.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    for (unsigned char m : mask) frame.push_back(static_cast<char>(m));
    for (std::size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
    return send_all(fd_, frame);
  }

  // The next text message; nullopt on close, error or timeout.
  std::optional<std::string> read_text(std::chrono::milliseconds timeout = 20000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (buf_.size() >= 2) {
        auto b0 = static_cast<unsigned char>(buf_[0]);
        auto b1 = static_cast<unsigned char>(buf_[1]);
        std::size_t len = b1 & 0x7f;
        std::size_t at = 2;
        if (len == 126 && buf_.size() >= 4) {
          len = (static_cast<unsigned char>(buf_[2]) << 8) | static_cast<unsigned char>(buf_[3]);
          at = 4;
        } else if (len == 127 && buf_.size() >= 10) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(buf_[2 + i]);
          at = 10;
        } else if (len >= 126) {
          at = 0;  // length not complete yet
        }
        if (at > 0 && buf_.size() >= at + len) {
          std::string payload = buf_.substr(at, len);
          buf_.erase(0, at + len);
          int opcode = b0 & 0x0f;
          if (opcode == 0x8) {
            closed_ = true;
            return std::nullopt;
          }
          if (opcode == 0x1) return payload;
          continue;  // ping/pong/binary: skipped
        }
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }
  // The next message as JSON (null on close/timeout/bad JSON).
  json read_json(std::chrono::milliseconds timeout = 20000ms) {
    auto t = read_text(timeout);
    if (!t) return nullptr;
    auto j = parse_json(*t);
    return j ? *j : json(nullptr);
  }
  bool closed() const { return closed_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[8192];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  }

  int fd_ = -1;
  int status_ = 0;
  bool closed_ = false;
  std::string head_;
  std::string buf_;
};

}  // namespace cppflue::serve_testing
