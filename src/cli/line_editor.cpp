// SPDX-License-Identifier: Apache-2.0
#include "line_editor.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <histedit.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>
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

// libedit is opened when the first line editor is made, not linked: only `chat` on a terminal
// edits lines, and linking it (with libtinfo, libbsd and libmd) cost every start ~0.4 ms and
// ~0.4 MiB. <histedit.h> still gives every function's exact type (el_set, el_get and history
// are variadic: calling them through a pointer of another type would be undefined).
constexpr const char* kEditLibrary = "libedit.so.2";

struct EditApi {
  decltype(&::el_init) init = nullptr;
  decltype(&::el_end) end = nullptr;
  decltype(&::el_get) get = nullptr;
  decltype(&::el_set) set = nullptr;
  decltype(&::el_wset) wset = nullptr;
  decltype(&::el_gets) gets = nullptr;
  decltype(&::el_wgetc) wgetc = nullptr;
  decltype(&::el_insertstr) insertstr = nullptr;
  decltype(&::el_winsertstr) winsertstr = nullptr;
  decltype(&::el_cursor) cursor = nullptr;
  decltype(&::el_wline) wline = nullptr;
  decltype(&::el_deletestr) deletestr = nullptr;  // el_wdeletestr is a macro for it
  decltype(&::history_init) history_init = nullptr;
  decltype(&::history_end) history_end = nullptr;
  decltype(&::history) history = nullptr;
  std::string problem;  // why the library is unusable, when it is
};

EditApi open_edit() {
  EditApi api;
  void* lib = ::dlopen(kEditLibrary, RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    api.problem = fmt::format("cannot load {} ({}; Debian: apt-get install libedit2)", kEditLibrary,
                              why != nullptr ? why : "unknown error");
    return api;
  }
  const char* missing = nullptr;
  auto bind = [&](const char* name, auto& slot) {
    void* sym = missing == nullptr ? ::dlsym(lib, name) : nullptr;
    if (sym == nullptr && missing == nullptr) missing = name;
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(sym);
  };
  bind("el_init", api.init);
  bind("el_end", api.end);
  bind("el_get", api.get);
  bind("el_set", api.set);
  bind("el_wset", api.wset);
  bind("el_gets", api.gets);
  bind("el_wgetc", api.wgetc);
  bind("el_insertstr", api.insertstr);
  bind("el_winsertstr", api.winsertstr);
  bind("el_cursor", api.cursor);
  bind("el_wline", api.wline);
  bind("el_deletestr", api.deletestr);
  bind("history_init", api.history_init);
  bind("history_end", api.history_end);
  bind("history", api.history);
  if (missing != nullptr) {
    ::dlclose(lib);
    EditApi unusable;
    unusable.problem = fmt::format(
        "{} is not a usable libedit ({} is missing; Debian: apt-get install --reinstall libedit2)",
        kEditLibrary, missing);
    return unusable;
  }
  return api;  // stays open for the life of the process
}

const EditApi& edit() {
  static const EditApi api = open_edit();  // once per process, thread-safe
  return api;
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
    edit().get(el, EL_CLIENTDATA, &data);
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
    while (edit().wgetc(el, &c) == 1) {
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
      if (edit().winsertstr(el, line.c_str()) == 0) return CC_REFRESH;
      // Too long for the line: kept whole like a block.
    }
    int lines = 1;
    for (char ch : utf8) lines += ch == '\n';
    self.pastes.push_back(std::move(utf8));
    std::string placeholder = paste_placeholder(static_cast<int>(self.pastes.size()), lines);
    edit().insertstr(el, placeholder.c_str());
    return CC_REFRESH;
  }

  // Bound to Ctrl-C (the terminal sends it as a character while editing): forget the line, its
  // pastes and (through `interrupted`) the lines of the entry before it.
  static unsigned char on_interrupt(EditLine* el, int) {
    Impl& self = of(el);
    // Counted in characters, as el_cursor and el_deletestr count (not bytes).
    const LineInfoW* line = edit().wline(el);
    edit().cursor(el, static_cast<int>(line->lastchar - line->cursor));
    line = edit().wline(el);
    edit().deletestr(el, static_cast<int>(line->cursor - line->buffer));
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
    edit().set(el, EL_PREP_TERM, 0);
    ::kill(::getpid(), SIGTSTP);
    edit().set(el, EL_PREP_TERM, 1);
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

std::string LineEditor::unavailable() {
  return edit().problem;
}

LineEditor::LineEditor() : impl_(std::make_unique<Impl>()) {
  const EditApi& api = edit();
  if (!api.problem.empty()) throw std::runtime_error(api.problem);
  Impl& self = *impl_;
  self.el = api.init("cppflue", stdin, stdout, stderr);
  self.history = api.history_init();
  if (self.el == nullptr || self.history == nullptr) {
    if (self.el != nullptr) api.end(self.el);
    if (self.history != nullptr) api.history_end(self.history);
    throw std::runtime_error("libedit could not set up the terminal (el_init)");
  }
  api.history(self.history, &self.event, H_SETSIZE, 1000);
  api.history(self.history, &self.event, H_SETUNIQUE, 1);
  api.set(self.el, EL_CLIENTDATA, &self);
  api.set(self.el, EL_EDITOR, "emacs");
  api.set(self.el, EL_HIST, api.history, self.history);
  api.set(self.el, EL_PROMPT_ESC, &Impl::prompt_of, kPromptEscape);
  // While a line is edited Ctrl-C is a key (bound below), not SIGINT.
  api.set(self.el, EL_SETTY, "-d", "-isig", nullptr);
  // The wide form: libedit keeps these pointers (static strings), where the narrow form makes
  // copies that el_end never frees.
  api.wset(self.el, EL_ADDFN, L"cppflue-paste", L"Keep a pasted block whole", &Impl::on_paste);
  api.wset(self.el, EL_ADDFN, L"cppflue-interrupt", L"Clear the line", &Impl::on_interrupt);
  api.wset(self.el, EL_ADDFN, L"cppflue-suspend", L"Stop (fg resumes)", &Impl::on_suspend);
  api.set(self.el, EL_BIND, std::string(kPasteStart).c_str(), "cppflue-paste", nullptr);
  api.set(self.el, EL_BIND, "^C", "cppflue-interrupt", nullptr);
  api.set(self.el, EL_BIND, "^Z", "cppflue-suspend", nullptr);
  const char* term = std::getenv("TERM");
  self.bracketed_paste = term && std::strcmp(term, "dumb") != 0;
}

LineEditor::~LineEditor() {
  edit().end(impl_->el);
  edit().history_end(impl_->history);
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
  const char* line = edit().gets(self.el, &count);
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
  edit().history(impl_->history, &impl_->event, H_ENTER, entry.c_str());
}

}  // namespace cppflue::cli
