// SPDX-License-Identifier: Apache-2.0
// Ids (core/ids.hpp): their shape, and that a forked child does not repeat its parent's ids.
#include "cppflue/core/ids.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

namespace cppflue {
namespace {

TEST(Ids, ShapesAndNoRepeats) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_hex_id("run_", 24);
    ASSERT_EQ(id.size(), 28u);
    ASSERT_EQ(id.rfind("run_", 0), 0u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
  EXPECT_EQ(new_ulid().size(), 26u);
}

// Without a fresh seed in the child, parent and child would make the same next ids: run ids,
// session ids and the run-owner nonces whose lock files tell a live process from an ended one.
TEST(Ids, AForkedChildMakesOtherIdsThanItsParent) {
  (void)new_hex_id("", 24);  // the generator exists before the fork
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      std::string ids = new_hex_id("", 24) + new_ulid() + std::to_string(random_u64());
      _exit(::write(fds[1], ids.data(), ids.size()) == static_cast<ssize_t>(ids.size()) ? 0 : 1);
    }
    ::close(fds[1]);
    std::string mine = new_hex_id("", 24) + new_ulid() + std::to_string(random_u64());
    std::string theirs(200, '\0');
    ssize_t n = ::read(fds[0], theirs.data(), theirs.size());
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_GT(n, 24);
    theirs.resize(static_cast<std::size_t>(n));
    EXPECT_NE(theirs.substr(0, 24), mine.substr(0, 24));
    EXPECT_NE(theirs.substr(24 + 10, 16), mine.substr(24 + 10, 16));  // the ulids' random parts
  }
}

}  // namespace
}  // namespace cppflue
