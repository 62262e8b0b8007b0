// SPDX-License-Identifier: Apache-2.0
// The .env parser and loader (cppflue/core/dotenv.hpp).
#include "cppflue/core/dotenv.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cppflue {

namespace {

constexpr std::size_t kMaxDotenvBytes = std::size_t{1} << 20;

bool name_char(char c, bool first) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

bool blank(char c) {
  return c == ' ' || c == '\t';
}

// Walks the text line by line; `pos` is the start of the current line, `line` its number.
class Parser {
 public:
  Parser(std::string_view text, std::string_view origin) : text_(text), origin_(origin) {}

  Result<std::vector<std::pair<std::string, std::string>>> run() {
    std::vector<std::pair<std::string, std::string>> out;
    while (pos_ < text_.size()) {
      skip_blanks();
      if (at_line_end() || peek() == '#') {
        next_line();
        continue;
      }
      auto entry = assignment();
      if (!entry) return fail(std::move(entry.error()));
      out.push_back(std::move(*entry));
    }
    return out;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\n'; }
  bool at_line_end() const { return peek() == '\n' || peek() == '\r'; }
  void skip_blanks() {
    while (pos_ < text_.size() && blank(text_[pos_])) ++pos_;
  }
  void next_line() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    if (pos_ < text_.size()) ++pos_;
    ++line_;
  }
  Error error(int line, std::string what) const {
    return make_error(ErrorType::config_error, fmt::format("{}:{}: {}", origin_, line, what));
  }

  Result<std::pair<std::string, std::string>> assignment() {
    if (text_.substr(pos_, 7) == "export ") {
      pos_ += 7;
      skip_blanks();
    }
    std::string name;
    while (pos_ < text_.size() && name_char(text_[pos_], name.empty())) name += text_[pos_++];
    skip_blanks();
    if (name.empty() || peek() != '=') {
      return fail(error(line_,
                        "expected KEY=VALUE, where KEY is letters, digits and '_' (not "
                        "starting with a digit)"));
    }
    ++pos_;
    skip_blanks();
    auto value = peek() == '"' || peek() == '\'' ? quoted(peek()) : unquoted();
    if (!value) return fail(std::move(value.error()));
    return std::pair{std::move(name), std::move(*value)};
  }

  Result<std::string> unquoted() {
    std::string value;
    while (!at_line_end()) {
      if (peek() == '#' && (value.empty() || blank(value.back()))) break;
      value += text_[pos_++];
    }
    while (!value.empty() && blank(value.back())) value.pop_back();
    next_line();
    return value;
  }

  Result<std::string> quoted(char quote) {
    const int start = line_;
    ++pos_;
    std::string value;
    for (;;) {
      if (pos_ >= text_.size()) {
        return fail(error(start, fmt::format("unterminated {}-quoted value",
                                             quote == '"' ? "double" : "single")));
      }
      char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c == '\\' && quote == '"' && pos_ < text_.size()) {
        char e = text_[pos_++];
        if (e == 'n') {
          value += '\n';
        } else if (e == 't') {
          value += '\t';
        } else if (e == 'r') {
          value += '\r';
        } else if (e == '"' || e == '\\') {
          value += e;
        } else {
          value += '\\';
          value += e;
        }
        continue;
      }
      value += c;
    }
    skip_blanks();
    if (!at_line_end() && peek() != '#') {
      return fail(error(line_, "unexpected text after the closing quote"));
    }
    next_line();
    return value;
  }

  std::string_view text_;
  std::string_view origin_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

Result<std::string> read_dotenv(const std::filesystem::path& file, bool& missing) {
  missing = false;
  // Non-blocking and regular files only (a FIFO would hang the start).
  int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      missing = true;
      return std::string();
    }
    return fail(ErrorType::config_error,
                fmt::format("cannot read {}: {}", file.string(), std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::size_t>(st.st_size) > kMaxDotenvBytes) {
    ::close(fd);
    return fail(ErrorType::config_error,
                fmt::format("{} is not a regular file of at most 1 MiB", file.string()));
  }
  std::string text;
  char chunk[16384];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || text.size() + static_cast<std::size_t>(n) > kMaxDotenvBytes) {
      ::close(fd);
      if (n == 0) return text;
      return fail(ErrorType::config_error, fmt::format("cannot read {}", file.string()));
    }
    text.append(chunk, static_cast<std::size_t>(n));
  }
}

std::atomic<bool> g_project_dotenv{false};
std::atomic<bool> g_project_dotenv_loaded{false};

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> parse_dotenv(std::string_view text,
                                                                      std::string_view origin) {
  return Parser(text, origin).run();
}

Result<int> load_dotenv(const std::filesystem::path& file) {
  bool missing = false;
  auto text = read_dotenv(file, missing);
  if (!text) return fail(std::move(text.error()));
  if (missing) return 0;
  auto vars = parse_dotenv(*text, file.string());
  if (!vars) return fail(std::move(vars.error()));
  int set = 0;
  for (const auto& [name, value] : *vars) {
    if (std::getenv(name.c_str()) != nullptr) continue;  // the environment wins
    if (::setenv(name.c_str(), value.c_str(), 0) == 0) ++set;
  }
  return set;
}

void enable_project_dotenv() {
  g_project_dotenv = true;
}

namespace detail {
// Called by discover_config with the project root.
Result<void> load_project_dotenv(const std::filesystem::path& root) {
  if (!g_project_dotenv || g_project_dotenv_loaded.exchange(true)) return {};
  auto r = load_dotenv(root / ".env");
  if (!r) {
    // Not loaded: whoever asks next (each command reads the configuration when it needs it)
    // gets the same error, rather than a configuration without the file.
    g_project_dotenv_loaded = false;
    return fail(std::move(r.error()));
  }
  return {};
}
}  // namespace detail

}  // namespace cppflue
