// SPDX-License-Identifier: Apache-2.0
#include "chat_output.hpp"
#include "cli.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <iostream>

namespace cppflue::cli {

namespace {

constexpr const char* kDim = "\033[2m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kReset = "\033[0m";

// `text` cut to `width` bytes of UTF-8 (whole characters), "…" marking the cut.
std::string cut(std::string text, std::size_t width) {
  if (width < 2 || text.size() <= width) return text;
  std::size_t end = width - 1;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text + "…";
}

std::string first_line(const std::string& text) {
  auto nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl) + " …";
}

}  // namespace

std::size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

void Spinner::start(std::string label) {
  if (!enabled_) return;
  stop();
  std::lock_guard lock(mutex_);
  label_ = std::move(label);
  running_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Spinner::stop() {
  if (!enabled_) return;
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    running_ = false;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Spinner::loop() {
  static constexpr std::array<const char*, 10> kFrames = {"⠋", "⠙", "⠹", "⠸", "⠼",
                                                          "⠴", "⠦", "⠧", "⠇", "⠏"};
  const auto started = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  for (std::size_t frame = 0; running_; ++frame) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cerr << fmt::format("\r{}{} {} {:.1f}s{}\033[K", kDim, kFrames[frame % kFrames.size()],
                             label_, seconds, kReset)
              << std::flush;
    wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return !running_; });
  }
  std::cerr << "\r\033[K" << std::flush;
}

std::string tool_call_line(const std::string& tool, const json& args, std::size_t width) {
  std::string shown;
  if (args.is_object() && args.get_object().size() == 1 &&
      args.get_object().begin()->value().is_string()) {
    shown = std::string(args.get_object().begin()->value().get_string());
  } else if (!(args.is_object() && args.get_object().empty())) {
    shown = dump(args);
  }
  std::string line = "  -> " + tool;
  if (!shown.empty()) line += ": " + first_line(shown);
  return cut(std::move(line), width);
}

std::string usage_line(const Usage& usage, std::chrono::steady_clock::duration elapsed) {
  std::string line = fmt::format("{} in · {} out", usage.input, usage.output);
  if (usage.cache_read > 0) line += fmt::format(" · {} cached", usage.cache_read);
  if (usage.cache_write > 0) line += fmt::format(" · {} cache writes", usage.cache_write);
  if (usage.cost) line += " · " + usd_text(usage.cost->total);  // absent: no known price
  return line + fmt::format(" · {:.1f} s", std::chrono::duration<double>(elapsed).count());
}

AnswerPrinter::AnswerPrinter(Spinner& spinner, bool styled, std::size_t width)
    : spinner_(spinner),
      styled_(styled),
      width_(width),
      out_is_terminal_(isatty(STDOUT_FILENO) == 1) {}

void AnswerPrinter::end_line() {
  if (at_line_start_) return;
  std::cout << '\n' << std::flush;
  at_line_start_ = true;
}

void AnswerPrinter::print(const Event& e) {
  auto payload = decode_event(e.type, e.data);
  if (!payload) return;
  if (const auto* d = std::get_if<events::TextDelta>(&*payload)) {
    if (d->text.empty()) return;
    std::string text = out_is_terminal_ ? filter_.feed(d->text) : d->text;
    if (text.empty()) return;
    spinner_.stop();
    std::cout << text << std::flush;
    at_line_start_ = text.back() == '\n';
  } else if (const auto* t = std::get_if<events::ToolStart>(&*payload)) {
    spinner_.stop();
    end_line();
    std::string line = for_terminal(STDERR_FILENO, tool_call_line(t->toolName, t->args, width_));
    std::cerr << (styled_ ? kDim + line + kReset : line) << '\n' << std::flush;
    spinner_.start("running " + terminal_safe(t->toolName));
  } else if (const auto* c = std::get_if<events::ToolEnd>(&*payload)) {
    spinner_.stop();
    if (c->isError) {
      std::string line = for_terminal(
          STDERR_FILENO, cut("  !! " + c->toolName + " failed: " + first_line(c->result), width_));
      std::cerr << (styled_ ? kRed + line + kReset : line) << '\n' << std::flush;
    }
  } else if (std::holds_alternative<events::TurnRequest>(*payload)) {
    if (at_line_start_) spinner_.start("thinking");
  }
}

}  // namespace cppflue::cli
