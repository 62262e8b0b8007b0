// SPDX-License-Identifier: Apache-2.0
// cppflue/core/suggest.hpp — "did you mean" for mistyped names (commands, keys, tools, agents).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cppflue {

// The number of single-character insertions, deletions, substitutions and transpositions of
// adjacent characters that turn `a` into `b`, ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a likely typo (at most 1 edit
// for candidates of up to 4 characters, 2 for longer ones; a candidate `word` is the start of,
// for words of 3 characters or more), the first one in `candidates` on a tie; nullopt when none
// is, or when `word` is one of them.
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates);

// "; did you mean 'X'?" for the closest candidate, or "" when none is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace cppflue
