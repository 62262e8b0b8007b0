// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/log.hpp"

#include "cppflue/core/log_env.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "cppflue/core/clock.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue::log {

namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v";

// The fields of the line being written on this thread (see write()); the logger is
// synchronous, so its formatter runs on the thread that logs.
thread_local const boost::json::object* t_fields = nullptr;

// One JSON object per line: time, level, message, then the line's fields.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    json_object line;
    line["time"] = iso8601(msg.time);
    auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string_view(level.data(), level.size());
    line["message"] = std::string_view(msg.payload.data(), msg.payload.size());
    if (t_fields != nullptr) {
      for (const auto& kv : *t_fields) {
        if (!line.contains(kv.key())) line[kv.key()] = kv.value();
      }
    }
    std::string text = dump(line);
    text += '\n';
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> formatter_for(Format format) {
  if (format == Format::json) return std::make_unique<JsonFormatter>();
  return std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The value of environment variable `name`; nullopt when unset or empty.
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// What is wrong with CPPFLUE_LOG and CPPFLUE_LOG_FORMAT (nothing when unset or valid).
std::vector<std::string> environment_problems() {
  std::vector<std::string> problems;
  if (auto v = env("CPPFLUE_LOG"); v && !parse_level(*v)) {
    problems.push_back("CPPFLUE_LOG=" + *v + " is not a log level; use one of " +
                       std::string(kLevelNames) + " (keeping the default level)");
  }
  if (auto v = env("CPPFLUE_LOG_FORMAT"); v && !parse_format(*v)) {
    problems.push_back("CPPFLUE_LOG_FORMAT=" + *v +
                       " is not a log format; use text or json (keeping text)");
  }
  return problems;
}

}  // namespace

std::shared_ptr<spdlog::logger> get() {
  // Never destroyed: threads still winding down while the process exits (runtime threads,
  // transports closing) may log after static destructors have run.
  static auto* const logger = [] {
    auto l = spdlog::stderr_color_mt("cppflue");
    l->set_formatter(formatter_for(environment_format().value_or(Format::text)));
    l->set_level(environment_level().value_or(spdlog::level::warn));
    for (const auto& problem : environment_problems()) l->warn("{}", problem);
    return new std::shared_ptr<spdlog::logger>(std::move(l));
  }();
  return *logger;
}

void check_environment() {
  if (!environment_problems().empty()) get();  // which reports them
}

std::optional<spdlog::level::level_enum> environment_level() {
  auto v = env("CPPFLUE_LOG");
  return v ? parse_level(*v) : std::nullopt;
}

std::optional<Format> environment_format() {
  auto v = env("CPPFLUE_LOG_FORMAT");
  return v ? parse_format(*v) : std::nullopt;
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
  using spdlog::level::level_enum;
  static const std::pair<const char*, level_enum> kLevels[] = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug},       {"info", level_enum::info},
      {"warn", level_enum::warn},   {"warning", level_enum::warn},      {"error", level_enum::err},
      {"err", level_enum::err},     {"critical", level_enum::critical}, {"off", level_enum::off}};
  std::string key = lower(name);
  for (const auto& [n, level] : kLevels) {
    if (key == n) return level;
  }
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view name) {
  std::string key = lower(name);
  if (key == "text") return Format::text;
  if (key == "json") return Format::json;
  return std::nullopt;
}

void set_format(Format format) {
  get()->set_formatter(formatter_for(format));
}

void set_default_level(spdlog::level::level_enum level) {
  get()->set_level(environment_level().value_or(level));
}

void write(spdlog::level::level_enum level, std::string_view message,
           const boost::json::object& fields) {
  auto l = get();
  if (!l->should_log(level)) return;
  struct Reset {
    ~Reset() { t_fields = nullptr; }
  } reset;
  t_fields = &fields;
  l->log(level, spdlog::string_view_t(message.data(), message.size()));
}

}  // namespace cppflue::log
