// SPDX-License-Identifier: Apache-2.0
// The grep pattern in PCRE2: compiled in UTF mode (invalid UTF-8 tolerated) with JIT when
// available, matched with a match limit, a depth limit and a bounded JIT stack.
//
// Semantics: every line (the bytes between two "\n"; a trailing "\r" belongs to the line) is
// matched on its own, as the whole subject, with the pattern as given (MULTILINE,
// NEWLINE_ANYCRLF); a line is reported when the pattern matches somewhere in it. So a match never
// spans lines, and \A, \z, \G, lookbehinds see the line alone. One pcre2_match call per line
// costs too much on large trees, so when the pattern is "line-safe" (search_line_safe.cpp) the
// search runs over the whole buffer with a rewritten pattern whose atoms cannot match "\n", and
// each line where that search finds a match is confirmed by matching the line alone with the
// original pattern.
//
// Why the buffer search misses no line: in the rewritten pattern no atom (lookarounds included)
// can consume a "\n", so an attempt at a position inside a line only reads that line, except for
// zero-width checks at its two ends, where the buffer has a "\n" and the lone line the subject's
// start or end. `$` (multiline), `\b`, `\B` and lookarounds whose atoms cannot match "\n" give
// the same answer there, so every backtracking decision (atomic groups and possessive quantifiers
// included) is the same too. `^` would not (in a buffer it is also true between the "\r" and the
// "\n" of a CRLF, the end of a lone "…\r" line), so it is rewritten to hold after a "\n", at the
// buffer start, or after a "\r" that does not end the line, which is what it means in a lone
// line. The confirmation of each candidate line is then only a safety net. Files with invalid
// UTF-8, and some files with a CRLF, are searched line by line (Pattern::buffer_search_misses).
#include <cstring>

#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// Compiles `pattern`; on failure returns a null code and sets `err` and `offset`.
Compiled compile_pattern(std::string_view pattern, bool ignore_case, int& err, PCRE2_SIZE& offset) {
  std::unique_ptr<pcre2_compile_context, CompileContextDeleter> cctx(
      pcre2_compile_context_create(nullptr));
  if (cctx) pcre2_set_newline(cctx.get(), PCRE2_NEWLINE_ANYCRLF);
  std::uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE;
  if (ignore_case) opts |= PCRE2_CASELESS;
  Compiled c;
  c.code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts,
                             &err, &offset, cctx.get()));
  if (c.code) c.jit = pcre2_jit_compile(c.code.get(), PCRE2_JIT_COMPLETE) == 0;
  return c;
}

}  // namespace

Result<Pattern> Pattern::compile(const std::string& pattern, bool ignore_case) {
  Pattern re;
  int err = 0;
  PCRE2_SIZE offset = 0;
  re.line_ = compile_pattern(pattern, ignore_case, err, offset);
  if (!re.line_.code) {
    std::string msg = pcre2_message(err);
    return fail(ErrorType::invalid_input,
                "invalid regex '" + pattern + "': " + msg + " at offset " + std::to_string(offset),
                {{"pattern", pattern},
                 {"offset", static_cast<std::uint64_t>(offset)},
                 {"pcre2_error", msg}});
  }
  if (auto safe = line_safe_pattern(pattern)) {
    // Not expected to fail; if it does, every line is matched on its own.
    re.buffer_ = compile_pattern(*safe, ignore_case, err, offset);
    std::uint32_t empty = 1;
    if (re.buffer_.code) pcre2_pattern_info(re.buffer_.code.get(), PCRE2_INFO_MATCHEMPTY, &empty);
    re.matches_empty_ = empty != 0;
  }
  return re;
}

// Two cases besides a pattern that is not line-safe:
//  - invalid UTF-8: PCRE2 matches the valid stretches between invalid bytes one by one, with
//    different rules at their ends (no `^` at the start, no `$` at the end, empty stretches
//    skipped), so the stretches of a line with invalid bytes are not the same in the buffer;
//  - a CRLF, with a pattern that can match an empty string: PCRE2 never starts a buffer
//    match between the "\r" and the "\n" of a CRLF (the bumpalong and the start-of-line
//    optimisation skip it), where a lone "…\r" line ends; a match starting there is empty.
bool Pattern::buffer_search_misses(std::string_view data) const {
  return !buffer_.code || !valid_utf8(data) ||
         (matches_empty_ && memmem(data.data(), data.size(), "\r\n", 2) != nullptr);
}

Matcher::Matcher(const Pattern& pat) {
  mctx_.reset(pcre2_match_context_create(nullptr));
  if (mctx_) {
    pcre2_set_match_limit(mctx_.get(), kMatchLimit);
    pcre2_set_depth_limit(mctx_.get(), kDepthLimit);
    if (pat.line().jit || pat.buffer().jit) {
      stack_.reset(pcre2_jit_stack_create(32 * 1024, kJitStackMax, nullptr));
      if (stack_) pcre2_jit_stack_assign(mctx_.get(), nullptr, stack_.get());
    }
  }
  // The rewrite adds no capture group, so one match data fits both codes.
  md_.reset(pcre2_match_data_create_from_pattern(pat.line().code.get(), nullptr));
}

int Matcher::find(const Compiled& c, std::string_view subject, std::size_t from,
                  std::size_t* start) {
  if (!md_ || !mctx_) return PCRE2_ERROR_NOMEMORY;
  auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = c.jit ? pcre2_jit_match(c.code.get(), s, subject.size(), from, 0, md_.get(), mctx_.get())
                 : pcre2_match(c.code.get(), s, subject.size(), from, 0, md_.get(), mctx_.get());
  if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
    *start = pcre2_get_ovector_pointer(md_.get())[0];
    return 0;
  }
  return rc;
}

}  // namespace cppflue::search_detail
