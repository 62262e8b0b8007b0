// SPDX-License-Identifier: Apache-2.0
// The log's settings (CPPFLUE_LOG levels, CPPFLUE_LOG_FORMAT formats) and the JSON format: one
// object per line with time, level, message and the line's fields.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <functional>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/core/log.hpp"

namespace cppflue {
namespace {

using spdlog::level::level_enum;

TEST(Log, LevelsAndFormatsAreParsedCaseInsensitively) {
  EXPECT_EQ(log::parse_level("trace"), level_enum::trace);
  EXPECT_EQ(log::parse_level("DEBUG"), level_enum::debug);
  EXPECT_EQ(log::parse_level("Info"), level_enum::info);
  EXPECT_EQ(log::parse_level("warn"), level_enum::warn);
  EXPECT_EQ(log::parse_level("warning"), level_enum::warn);
  EXPECT_EQ(log::parse_level("error"), level_enum::err);
  EXPECT_EQ(log::parse_level("err"), level_enum::err);
  EXPECT_EQ(log::parse_level("critical"), level_enum::critical);
  EXPECT_EQ(log::parse_level("off"), level_enum::off);
  // spdlog itself reads any unknown name as "off": that must not happen silently.
  EXPECT_EQ(log::parse_level("verbose"), std::nullopt);
  EXPECT_EQ(log::parse_level(""), std::nullopt);
  EXPECT_EQ(log::parse_format("json"), log::Format::json);
  EXPECT_EQ(log::parse_format("TEXT"), log::Format::text);
  EXPECT_EQ(log::parse_format("yaml"), std::nullopt);
}

// Keeps each line as the logger's formatter wrote it.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    std::string line(buf.data(), buf.size());
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    lines.push_back(std::move(line));
  }
  void flush_() override {}
};

// The lines the log writes while `fn` runs, in `format`.
std::vector<std::string> captured(log::Format format, const std::function<void()>& fn) {
  auto sink = std::make_shared<LineSink>();
  auto logger = log::get();
  const auto level = logger->level();
  logger->sinks().push_back(sink);
  logger->set_level(level_enum::info);
  log::set_format(format);
  fn();
  log::set_format(log::Format::text);
  logger->set_level(level);
  logger->sinks().pop_back();
  return sink->lines;
}

TEST(Log, JsonFormatIsOneObjectPerLineWithTheFields) {
  auto lines = captured(log::Format::json, [] {
    log::write(level_enum::info, "access: GET /health 200 1.5ms",
               json_object{{"method", "GET"}, {"status", 200}, {"duration_ms", 1.5}});
    log::get()->warn("plain {}", 1);
    log::write(level_enum::debug, "hidden", json_object{{"x", 1}});  // below the level
  });
  ASSERT_EQ(lines.size(), 2u);
  auto access = parse_json(lines[0]);
  ASSERT_TRUE(access && access->is_object()) << lines[0];
  EXPECT_TRUE(std::regex_match(std::string(access->at("time").as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << lines[0];
  EXPECT_EQ(access->at("level"), "info");
  EXPECT_EQ(access->at("message"), "access: GET /health 200 1.5ms");
  EXPECT_EQ(access->at("method"), "GET");
  EXPECT_EQ(access->at("status"), 200);
  EXPECT_EQ(access->at("duration_ms"), 1.5);
  EXPECT_EQ(lines[0].find("E0"), std::string::npos) << "numbers as people write them";
  auto plain = parse_json(lines[1]);
  ASSERT_TRUE(plain) << lines[1];
  EXPECT_EQ(plain->at("level"), "warning");
  EXPECT_EQ(plain->at("message"), "plain 1");
  EXPECT_EQ(find(*plain, "method"), nullptr) << "the fields of one line stay on it";
}

TEST(Log, TextFormatShowsTheMessageOnly) {
  auto lines = captured(log::Format::text, [] {
    log::write(level_enum::info, "access: GET / 200 0.2ms", json_object{{"method", "GET"}});
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(
      std::regex_match(lines[0], std::regex(R"(\S+Z info \[cppflue\] access: GET / 200 0\.2ms)")))
      << lines[0];
}

}  // namespace
}  // namespace cppflue
