// SPDX-License-Identifier: Apache-2.0
// How `cppflue chat` shows an answer: the text on stdout as it streams, a spinner on stderr
// while nothing arrives (a terminal only), one compact line per tool call, and a usage line
// (tokens, time) at the end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "cli.hpp"

namespace cppflue::cli {

// "⠋ thinking 1.2s" redrawn on stderr until stopped; the line is erased on stop. Thread-safe;
// does nothing when `enabled` is false.
class Spinner {
 public:
  explicit Spinner(bool enabled) : enabled_(enabled) {}
  ~Spinner() { stop(); }
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;

  void start(std::string label);
  void stop();

 private:
  void loop();

  const bool enabled_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  std::string label_;
  bool running_ = false;
};

// One line for a tool call: "  -> bash: ls -la" (the call's one string argument, else its
// arguments as JSON), cut to `width` columns.
std::string tool_call_line(const std::string& tool, const json& args, std::size_t width);

// "280 in · 8 out · 1.2 s" (cache reads and writes when there were some).
std::string usage_line(const Usage& usage, std::chrono::steady_clock::duration elapsed);

// Prints the events of one answer; `styled` adds colour.
class AnswerPrinter {
 public:
  AnswerPrinter(Spinner& spinner, bool styled, std::size_t width);

  void print(const Event& e);
  // Ends the answer's last line (before an error or the usage line).
  void end_line();

 private:
  Spinner& spinner_;
  const bool styled_;
  const std::size_t width_;
  const bool out_is_terminal_;
  TerminalFilter filter_;  // the answer's text, when it goes to a terminal
  bool at_line_start_ = true;
};

// The terminal's width in columns (80 when it is not a terminal).
std::size_t terminal_width();

}  // namespace cppflue::cli
