// SPDX-License-Identifier: Apache-2.0
#include "compaction.hpp"

#include <fmt/format.h>

namespace cppflue::detail {
namespace {

constexpr std::string_view kSummaryHeader = "[Summary of the earlier conversation]\n\n";
constexpr std::size_t kMaxToolTextInTranscript = 4000;

std::int64_t chars_to_tokens(std::size_t chars) {
  return static_cast<std::int64_t>((chars + 3) / 4);
}

std::string shorten(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + fmt::format(" [... {} more bytes]", text.size() - cut);
}

}  // namespace

const char* const kSummarySystem =
    "You summarise the earlier part of a conversation between a user and an autonomous agent "
    "so that the agent can continue the work from the summary alone.";

std::int64_t estimate_tokens(const Message& m) {
  std::size_t chars = m.text.size() + m.thinking.size();
  for (const auto& c : m.tool_calls) {
    chars += c.name.size() +
             (c.raw_arguments.empty() ? dump(c.arguments).size() : c.raw_arguments.size());
  }
  std::int64_t tokens = chars_to_tokens(chars) + static_cast<std::int64_t>(m.images.size()) * 1000;
  return tokens == 0 && (chars > 0 || !m.tool_calls.empty()) ? 1 : tokens;
}

std::int64_t estimate_tokens(const std::vector<Message>& messages) {
  std::int64_t total = 0;
  for (const auto& m : messages) total += estimate_tokens(m);
  return total;
}

std::size_t choose_cut(const std::vector<Message>& history, std::int64_t keep_recent_tokens) {
  std::size_t cut = 0;
  std::size_t last_user = 0;
  std::int64_t suffix = 0;
  for (std::size_t i = history.size(); i-- > 1;) {
    suffix += estimate_tokens(history[i]);
    if (history[i].role != Role::user || is_summary_message(history[i])) continue;
    if (last_user == 0) last_user = i;
    if (suffix <= keep_recent_tokens) cut = i;
  }
  if (cut == 0) cut = last_user;
  return cut;
}

std::string render_transcript(const std::vector<Message>& history, std::size_t end) {
  std::string out;
  for (std::size_t i = 0; i < end && i < history.size(); ++i) {
    const Message& m = history[i];
    if (!out.empty()) out += "\n\n";
    switch (m.role) {
      case Role::system:
        out += "system: " + m.text;
        break;
      case Role::user:
        if (is_summary_message(m)) {
          out += "summary of the conversation before this point:\n" +
                 m.text.substr(kSummaryHeader.size());
        } else {
          out += "user: " + m.text;
          if (!m.images.empty()) out += fmt::format(" [{} image(s)]", m.images.size());
        }
        break;
      case Role::assistant:
        out += "assistant: " + m.text;
        for (const auto& c : m.tool_calls) {
          out += fmt::format("\n[called tool {} with {}]", c.name,
                             shorten(c.raw_arguments.empty() ? dump(c.arguments) : c.raw_arguments,
                                     kMaxToolTextInTranscript));
        }
        break;
      case Role::tool:
        out += fmt::format("tool {} {}: {}", m.tool_name, m.is_error ? "error" : "result",
                           shorten(m.text, kMaxToolTextInTranscript));
        break;
    }
  }
  return out;
}

std::string summary_request(const std::string& transcript, std::int64_t estimated_tokens) {
  return fmt::format(
      "Summarise this conversation history (about {} tokens) for future continuation. Keep the "
      "user's goals, decisions, facts learned from tool results, files changed, open tasks and "
      "any constraints. When it begins with an earlier summary, fold that summary in. Return "
      "only the summary.\n\n{}",
      estimated_tokens, transcript);
}

Message summary_message(const std::string& summary) {
  Message m;
  m.role = Role::user;
  m.text = std::string(kSummaryHeader) + summary;
  return m;
}

bool is_summary_message(const Message& m) {
  return m.role == Role::user && m.text.rfind(kSummaryHeader, 0) == 0;
}

}  // namespace cppflue::detail
