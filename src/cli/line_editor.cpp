// SPDX-License-Identifier: Apache-2.0
#include "line_editor.hpp"

#include <fmt/format.h>
#include <histedit.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace cppflue::cli {

namespace {

// What the terminal sends around a paste once "\033[?2004h" has asked for it.
constexpr std::string_view kPasteStart = "\033[200~";
constexpr std::wstring_view kPasteEnd = L"\033[201~";
// The most characters of one paste that are kept (a larger one is cut there).
constexpr std::size_t kMaxPaste = 8u << 20;
// The character that brackets escape sequences in the prompt (EL_PROMPT_ESC).
constexpr char kPromptEscape = '\1';

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

void write_out(std::string_view s) {
  std::fflush(stdout);
  while (!s.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, s.data(), s.size());
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

struct LineEditor::Impl {
  EditLine* el = nullptr;
  History* history = nullptr;
  HistEvent event{};
  std::string prompt;          // with kPromptEscape around its escape sequences
  std::string restart_prompt;  // the prompt after Ctrl-C (empty: the same)
  std::vector<std::string> pastes;
  bool bracketed_paste = false;
  bool interrupted = false;  // Ctrl-C during this read

  static Impl& of(EditLine* el) {
    void* data = nullptr;
    el_get(el, EL_CLIENTDATA, &data);
    return *static_cast<Impl*>(data);
  }

  static char* prompt_of(EditLine* el) { return of(el).prompt.data(); }

  // Bound to the paste-start sequence: reads up to the end sequence. Several lines become a
  // placeholder (kept whole in `pastes`); one line is inserted as it is. NUL characters are
  // dropped; past kMaxPaste characters the rest is read but not kept; a Ctrl-C character in the
  // paste (which a terminal does not send for pasted text) abandons it, so that a start
  // sequence without its end cannot swallow the keyboard.
  static unsigned char on_paste(EditLine* el, int) {
    Impl& self = of(el);
    std::wstring text;
    std::wstring tail;  // the last characters read, to spot the end sequence
    wchar_t c = 0;
    while (el_wgetc(el, &c) == 1) {
      if (c == L'\x03') return on_interrupt(el, 0);
      tail += c;
      if (tail.size() > kPasteEnd.size()) tail.erase(0, tail.size() - kPasteEnd.size());
      if (tail == kPasteEnd) break;
      if (c != L'\0' && text.size() < kMaxPaste + kPasteEnd.size()) text += c;
    }
    // The end sequence's first characters went into `text` before it was recognised.
    if (text.size() >= kPasteEnd.size() - 1 &&
        text.compare(text.size() - (kPasteEnd.size() - 1), kPasteEnd.size() - 1, kPasteEnd, 0,
                     kPasteEnd.size() - 1) == 0) {
      text.resize(text.size() - (kPasteEnd.size() - 1));
    }
    if (text.size() > kMaxPaste) text.resize(kMaxPaste);
    // Terminals send the pasted line breaks as CR (or CR LF).
    std::string utf8;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == L'\r') {
        utf8 += '\n';
        if (i + 1 < text.size() && text[i + 1] == L'\n') ++i;
      } else {
        append_utf8(utf8, static_cast<char32_t>(text[i]));
      }
    }
    while (!utf8.empty() && utf8.back() == '\n') utf8.pop_back();
    if (utf8.empty()) return CC_NORM;
    if (utf8.find('\n') == std::string::npos) {
      std::wstring line(text.begin(), text.end());
      std::erase_if(line, [](wchar_t ch) { return ch == L'\r' || ch == L'\n'; });
      if (el_winsertstr(el, line.c_str()) == 0) return CC_REFRESH;
      // Too long for the line: kept whole like a block.
    }
    int lines = 1;
    for (char ch : utf8) lines += ch == '\n';
    self.pastes.push_back(std::move(utf8));
    std::string placeholder = paste_placeholder(static_cast<int>(self.pastes.size()), lines);
    el_insertstr(el, placeholder.c_str());
    return CC_REFRESH;
  }

  // Bound to Ctrl-C (the terminal sends it as a character while editing): forget the line, its
  // pastes and (through `interrupted`) the lines of the entry before it.
  static unsigned char on_interrupt(EditLine* el, int) {
    Impl& self = of(el);
    // Counted in characters, as el_cursor and el_deletestr count (not bytes).
    const LineInfoW* line = el_wline(el);
    el_cursor(el, static_cast<int>(line->lastchar - line->cursor));
    line = el_wline(el);
    el_wdeletestr(el, static_cast<int>(line->cursor - line->buffer));
    self.pastes.clear();
    self.interrupted = true;
    if (!self.restart_prompt.empty()) self.prompt = self.restart_prompt;
    write_out("^C\n");
    return CC_REDISPLAY;
  }

  // Bound to Ctrl-Z (a key while editing, ISIG being off): the terminal back to its own mode,
  // then stop as any program does on Ctrl-Z; after `fg`, edit on where the line was. (In a
  // process group without job control the kernel discards the stop: the line is just redrawn.)
  static unsigned char on_suspend(EditLine* el, int) {
    Impl& self = of(el);
    if (self.bracketed_paste) write_out("\033[?2004l");
    write_out("\n");
    el_set(el, EL_PREP_TERM, 0);
    ::kill(::getpid(), SIGTSTP);
    el_set(el, EL_PREP_TERM, 1);
    if (self.bracketed_paste) write_out("\033[?2004h");
    return CC_REDISPLAY;
  }

  // The entry with its placeholders replaced by their pastes, in one pass over what was typed:
  // a paste's text is never searched for placeholders, and each paste is used once.
  std::string expand(const std::string& entry) const {
    std::vector<std::string> placeholders;
    placeholders.reserve(pastes.size());
    for (std::size_t i = 0; i < pastes.size(); ++i) {
      const int lines = 1 + static_cast<int>(std::count(pastes[i].begin(), pastes[i].end(), '\n'));
      placeholders.push_back(paste_placeholder(static_cast<int>(i + 1), lines));
    }
    std::vector<bool> used(pastes.size(), false);
    std::string out;
    for (std::size_t at = 0; at < entry.size();) {
      bool replaced = false;
      for (std::size_t i = 0; i < placeholders.size() && !replaced; ++i) {
        if (used[i] || entry.compare(at, placeholders[i].size(), placeholders[i]) != 0) continue;
        out += pastes[i];
        at += placeholders[i].size();
        used[i] = true;
        replaced = true;
      }
      if (!replaced) out += entry[at++];
    }
    return out;
  }
};

std::string paste_placeholder(int n, int lines) {
  return fmt::format("[pasted text #{}: {} lines]", n, lines);
}

void use_terminal_locale() {
  const char* chosen = std::setlocale(LC_CTYPE, "");
  std::string name = chosen ? chosen : "";
  if (name.empty() || name == "C" || name == "POSIX") std::setlocale(LC_CTYPE, "C.UTF-8");
}

LineEditor::LineEditor() : impl_(std::make_unique<Impl>()) {
  Impl& self = *impl_;
  self.el = el_init("cppflue", stdin, stdout, stderr);
  self.history = history_init();
  history(self.history, &self.event, H_SETSIZE, 1000);
  history(self.history, &self.event, H_SETUNIQUE, 1);
  el_set(self.el, EL_CLIENTDATA, &self);
  el_set(self.el, EL_EDITOR, "emacs");
  el_set(self.el, EL_HIST, history, self.history);
  el_set(self.el, EL_PROMPT_ESC, &Impl::prompt_of, kPromptEscape);
  // While a line is edited Ctrl-C is a key (bound below), not SIGINT.
  el_set(self.el, EL_SETTY, "-d", "-isig", nullptr);
  // The wide form: libedit keeps these pointers (static strings), where the narrow form makes
  // copies that el_end never frees.
  el_wset(self.el, EL_ADDFN, L"cppflue-paste", L"Keep a pasted block whole", &Impl::on_paste);
  el_wset(self.el, EL_ADDFN, L"cppflue-interrupt", L"Clear the line", &Impl::on_interrupt);
  el_wset(self.el, EL_ADDFN, L"cppflue-suspend", L"Stop (fg resumes)", &Impl::on_suspend);
  el_set(self.el, EL_BIND, std::string(kPasteStart).c_str(), "cppflue-paste", nullptr);
  el_set(self.el, EL_BIND, "^C", "cppflue-interrupt", nullptr);
  el_set(self.el, EL_BIND, "^Z", "cppflue-suspend", nullptr);
  const char* term = std::getenv("TERM");
  self.bracketed_paste = term && std::strcmp(term, "dumb") != 0;
}

LineEditor::~LineEditor() {
  el_end(impl_->el);
  history_end(impl_->history);
}

namespace {

// `prompt` with each run of escape sequences bracketed by kPromptEscape: they take no room on
// the screen (one pair per run: libedit misreads adjacent pairs).
std::string bracket_escapes(const std::string& prompt) {
  std::string out;
  for (std::size_t i = 0; i < prompt.size();) {
    if (prompt[i] != '\033') {
      out += prompt[i++];
      continue;
    }
    out += kPromptEscape;
    while (i < prompt.size() && prompt[i] == '\033') {
      auto end = prompt.find('m', i);
      end = end == std::string::npos ? prompt.size() : end + 1;
      out.append(prompt, i, end - i);
      i = end;
    }
    out += kPromptEscape;
  }
  return out;
}

}  // namespace

std::optional<std::string> LineEditor::read(const std::string& prompt,
                                            const std::string& restart_prompt) {
  Impl& self = *impl_;
  self.prompt = bracket_escapes(prompt);
  self.restart_prompt = restart_prompt.empty() ? std::string() : bracket_escapes(restart_prompt);
  self.pastes.clear();
  self.interrupted = false;
  if (self.bracketed_paste) write_out("\033[?2004h");
  int count = 0;
  const char* line = el_gets(self.el, &count);
  if (self.bracketed_paste) write_out("\033[?2004l");
  if (!line || count <= 0) return std::nullopt;
  std::string entry(line, static_cast<std::size_t>(count));
  if (!entry.empty() && entry.back() == '\n') entry.pop_back();
  return self.expand(entry);
}

bool LineEditor::interrupted() const {
  return impl_->interrupted;
}

void LineEditor::remember(const std::string& entry) {
  // Entries of several lines stay out: libedit would recall them as one line with ^J in it.
  if (entry.find_first_not_of(" \t") == std::string::npos ||
      entry.find('\n') != std::string::npos) {
    return;
  }
  history(impl_->history, &impl_->event, H_ENTER, entry.c_str());
}

}  // namespace cppflue::cli
