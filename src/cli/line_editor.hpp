// SPDX-License-Identifier: Apache-2.0
// The line editor of `cppflue chat` on a terminal, on libedit: emacs keys, history, and two
// things libedit does not do by itself:
// - bracketed paste: a pasted block of several lines stays one entry. It shows as
//   "[pasted text #1: 3 lines]" (which can be typed around, or deleted) and is put back in
//   place when the entry is returned; a one-line paste is inserted as typed text.
// - Ctrl-C clears the line being typed (and its pastes) and shows a fresh prompt, instead of
//   raising SIGINT; Ctrl-Z still stops the program (the terminal restored first, the line
//   redrawn after `fg`).
// A paste is kept up to 8 Mi characters; NUL characters are dropped.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace cppflue::cli {

class LineEditor {
 public:
  // Edits on standard input/output, which must be a terminal. libedit is opened with dlopen by
  // the first editor; when it cannot be, this throws std::runtime_error with unavailable()'s
  // reason.
  LineEditor();
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // One entry, pastes put back, without the final newline; nullopt at the end of input (Ctrl-D
  // on an empty line). `prompt` may hold escape sequences (colour); after a Ctrl-C the line is
  // shown again with `restart_prompt` when one is given.
  std::optional<std::string> read(const std::string& prompt,
                                  const std::string& restart_prompt = "");
  // Whether Ctrl-C was pressed during the last read (the lines of an entry begun before it
  // are to be forgotten too).
  bool interrupted() const;
  // Adds `entry` to the history (Up/Down).
  void remember(const std::string& entry);

  // Why no editor can be made here (libedit.so.2 missing or unusable, with the Debian package
  // to install), or empty. Opens libedit when nothing has yet.
  static std::string unavailable();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The placeholder a pasted block of `lines` lines shows as while it is edited: number `n`.
std::string paste_placeholder(int n, int lines);

// Selects the user's locale for character classification (LC_CTYPE), so that UTF-8 input is
// edited by character; falls back to C.UTF-8 when the environment names none.
void use_terminal_locale();

}  // namespace cppflue::cli
