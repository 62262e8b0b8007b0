// SPDX-License-Identifier: Apache-2.0
// RunStore::end_interrupted_runs: a run left running by a process that has ended is ended as
// failed/interrupted, once; runs whose process runs, or cannot be checked from here, are left
// alone. Whether an owner runs is whether it still holds the lock on its file in
// `<database>-owners/`; owners are forged through a raw connection for the variants one process
// cannot produce.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using cppflue::testing::TempDir;
namespace fs = std::filesystem;

std::shared_ptr<Store> open_or_die(const fs::path& path) {
  auto r = open_sqlite_store(path);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

RunRecord new_run(std::string id) {
  RunRecord r;
  r.id = std::move(id);
  r.workflow = "w";
  return r;
}

// The owner column through a raw connection.
std::string read_owner(const fs::path& db, const std::string& id) {
  sqlite3* c = nullptr;
  std::string out = "<none>";
  if (sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(c, "SELECT owner FROM runs WHERE id = ?1", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(c);
  return out;
}

void write_owner(const fs::path& db, const std::string& id, const std::string& owner) {
  sqlite3* c = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(c, 5000);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(c, "UPDATE runs SET owner = ?2 WHERE id = ?1", -1, &s, nullptr);
  sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, owner.c_str(), -1, SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
  sqlite3_finalize(s);
  sqlite3_close(c);
}

// "v2 HOST PID NONCE" as its fields, and back.
std::vector<std::string> fields_of(const std::string& owner) {
  std::istringstream in(owner);
  std::vector<std::string> f;
  std::string w;
  while (in >> w) f.push_back(w);
  return f;
}
std::string joined(const std::vector<std::string>& f) {
  std::string out;
  for (const auto& w : f) out += (out.empty() ? "" : " ") + w;
  return out;
}

char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

std::set<std::string> ids(const std::vector<RunRecord>& runs) {
  std::set<std::string> out;
  for (const auto& r : runs) out.insert(r.id);
  return out;
}

TEST(InterruptedRuns, TheOwnerIsThisProcessAndHoldsItsLock) {
  TempDir dir;
  auto db = dir.path() / "state.db";
  auto store = open_or_die(db);
  ASSERT_TRUE(store && store->create_run(new_run("r1")));
  auto f = fields_of(read_owner(db, "r1"));
  ASSERT_EQ(f.size(), 4u) << read_owner(db, "r1");
  EXPECT_EQ(f[0], "v2");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(f[1], host);
  EXPECT_EQ(f[2], std::to_string(getpid()));
  ASSERT_EQ(f[3].size(), 24u);
  fs::path lock = dir.path() / "state.db-owners" / f[3];
  ASSERT_TRUE(fs::is_regular_file(lock));
  EXPECT_EQ(fs::status(dir.path() / "state.db-owners").permissions() & fs::perms::all,
            fs::perms::owner_all);
  // Another open file description cannot take the lock while the store lives.
  int fd = ::open(lock.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock l {};
  l.l_type = F_WRLCK;
  EXPECT_EQ(::fcntl(fd, F_OFD_SETLK, &l), -1);
  store.reset();
  EXPECT_EQ(::fcntl(fd, F_OFD_SETLK, &l), 0) << "the lock goes with the store";
  ::close(fd);
  // A store that only reads makes no lock file.
  TempDir other;
  auto reader = open_or_die(other.path() / "state.db");
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->end_interrupted_runs({}));
  ASSERT_TRUE(reader->list_runs({}));
  EXPECT_FALSE(fs::exists(other.path() / "state.db-owners"));
}

// A run created by another process that has since exited is ended, once, as interrupted; the
// run of this (living) process is not.
TEST(InterruptedRuns, ARunOfAProcessThatHasEndedIsEndedOnce) {
  TempDir dir;
  auto db = dir.path() / "state.db";
  auto store = open_or_die(db);
  ASSERT_TRUE(store && store->create_run(new_run("mine")));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = open_sqlite_store(db);
    if (!r || !(*r)->create_run(new_run("theirs"))) _exit(2);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string dead_owner = read_owner(db, "theirs");
  const auto dead_lock = dir.path() / "state.db-owners" / fields_of(dead_owner).at(3);
  ASSERT_TRUE(fs::exists(dead_lock));

  auto ended = store->end_interrupted_runs({});
  ASSERT_TRUE(ended) << ended.error().message;
  ASSERT_EQ(ended->size(), 1u);
  const RunRecord& run = ended->front();
  EXPECT_EQ(run.id, "theirs");
  EXPECT_EQ(run.status, "failed");
  EXPECT_FALSE(run.ended_at.empty());
  EXPECT_TRUE(run.result.is_null());
  EXPECT_EQ(run.error.at("type"), "interrupted");
  std::string message(run.error.at("message").as_string());
  EXPECT_NE(message.find("pid " + std::to_string(child)), std::string::npos) << message;
  EXPECT_NE(message.find("ended before the run did"), std::string::npos) << message;
  EXPECT_EQ((*store->get_run("theirs"))->status, "failed");
  EXPECT_EQ((*store->get_run("mine"))->status, "running");
  // The store does not append events (end_interrupted_runs in the harness does).
  EXPECT_TRUE(store->run_events("theirs", 0, 10)->empty());
  // Its runs ended, the dead owner's lock file is swept; this store's own stays.
  EXPECT_FALSE(fs::exists(dead_lock));
  EXPECT_TRUE(fs::exists(dir.path() / "state.db-owners" / fields_of(read_owner(db, "mine")).at(3)));
  auto again = store->end_interrupted_runs({});
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  // A run its process finished is not touched, whatever its owner.
  ASSERT_TRUE(store->create_run(new_run("done")));
  ASSERT_TRUE(store->finish_run("done", "completed", json_object{{"ok", true}}, nullptr));
  write_owner(db, "done", dead_owner);
  EXPECT_TRUE(store->end_interrupted_runs({})->empty());
  EXPECT_EQ((*store->get_run("done"))->status, "completed");
}

// Owners forged: which count as ended, which as alive, which cannot be checked.
TEST(InterruptedRuns, OwnersAreJudgedByTheirLock) {
  TempDir dir;
  auto db = dir.path() / "state.db";
  auto store = open_or_die(db);
  auto other = open_or_die(db);  // another store object of this process: alive
  ASSERT_TRUE(store && other);
  ASSERT_TRUE(other->create_run(new_run("others")));
  const std::string alive = read_owner(db, "others");
  // A process that made a run and ended: its lock file stays, unlocked.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = open_sqlite_store(db);
    _exit(r && (*r)->create_run(new_run("child")) ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string dead = read_owner(db, "child");
  ASSERT_TRUE(other->finish_run("child", "completed", nullptr, nullptr));
  const auto owners = dir.path() / "state.db-owners";
  auto with = [](const std::string& owner, int field, const std::string& value) {
    auto f = fields_of(owner);
    f[static_cast<std::size_t>(field)] = value;
    return joined(f);
  };
  // Lock files that are not regular files, or lead elsewhere.
  const std::string fifo_nonce = "aaaaaaaaaaaaaaaaaaaaaaaa";
  ASSERT_EQ(::mkfifo((owners / fifo_nonce).c_str(), 0600), 0);
  const std::string link_nonce = "bbbbbbbbbbbbbbbbbbbbbbbb";
  fs::create_symlink(owners / fields_of(dead).at(3), owners / link_nonce);
  const std::string dir_nonce = "cccccccccccccccccccccccc";
  fs::create_directory(owners / dir_nonce);
  struct Case {
    const char* id;
    std::string owner;
    bool ends;
  };
  const std::vector<Case> cases = {
      {"dead", dead, true},
      {"dead-other-host-text", with(dead, 1, "elsewhere.example"), true},  // the lock decides
      {"alive-other-store", alive, false},
      {"alive-other-pid-text", with(alive, 2, "1"), false},
      {"no-lock-file", with(dead, 3, "dddddddddddddddddddddddd"), false},
      {"no-lock-taken", with(dead, 3, "-"), false},
      {"path-in-nonce", with(dead, 3, "../state.db"), false},
      {"upper-case-nonce", with(dead, 3, "ABCDEFABCDEFABCDEFABCDEF"), false},
      {"fifo", with(dead, 3, fifo_nonce), false},
      {"symlink", with(dead, 3, link_nonce), false},
      {"directory", with(dead, 3, dir_nonce), false},
      {"legacy", "", false},
      {"garbage", "not an owner at all", false},
      {"v1", "v1 host 1 2 3 4 5", false},
      {"extra-field", dead + " more", false},
      {"short", "v2 " + fields_of(dead).at(1), false},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(store->create_run(new_run(c.id)));
    write_owner(db, c.id, c.owner);
  }
  auto ended = store->end_interrupted_runs({});
  ASSERT_TRUE(ended) << ended.error().message;
  std::set<std::string> expected;
  for (const auto& c : cases) {
    if (c.ends) expected.insert(c.id);
  }
  EXPECT_EQ(ids(*ended), expected);
  for (const auto& c : cases) {
    EXPECT_EQ((*store->get_run(c.id))->status, c.ends ? "failed" : "running") << c.id;
  }
  EXPECT_EQ((*store->get_run("others"))->status, "running");
  // The sweep left what is not a lock file of an ended owner.
  EXPECT_TRUE(fs::exists(owners / fifo_nonce));
  EXPECT_TRUE(fs::is_directory(owners / dir_nonce));
  EXPECT_TRUE(fs::exists(owners / fields_of(alive).at(3)));
}

// A process that still runs holds its lock; once it exits, even before it is reaped, its runs
// are ended.
TEST(InterruptedRuns, AnotherProcessIsAliveUntilItExits) {
  TempDir dir;
  auto db = dir.path() / "state.db";
  auto store = open_or_die(db);
  ASSERT_TRUE(store);
  int go[2];
  int ready[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    ::close(ready[0]);
    auto r = open_sqlite_store(db);
    if (!r || !(*r)->create_run(new_run("child"))) _exit(2);
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) _exit(3);
    if (::read(go[0], &c, 1) < 0) _exit(4);
    _exit(0);
  }
  ::close(go[0]);
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  auto while_alive = store->end_interrupted_runs({});
  ASSERT_TRUE(while_alive);
  EXPECT_TRUE(while_alive->empty());
  EXPECT_EQ((*store->get_run("child"))->status, "running");
  ::close(go[1]);  // the child exits
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (proc_state(child) != 'Z' && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(proc_state(child), 'Z');
  auto after = store->end_interrupted_runs({.run_id = "child"});
  int status = 0;
  waitpid(child, &status, 0);
  ::close(ready[0]);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(ids(*after), std::set<std::string>{"child"});
}

// `own` ends the runs created through that store object, and only those: a server that stops
// does not end the runs of another server in the same process.
TEST(InterruptedRuns, OwnEndsTheRunsOfThisStoreObjectOnly) {
  TempDir dir;
  auto db = dir.path() / "state.db";
  auto a = open_or_die(db);
  auto b = open_or_die(db);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->create_run(new_run("a1")));
  ASSERT_TRUE(a->create_run(new_run("a2")));
  ASSERT_TRUE(b->create_run(new_run("b1")));
  EXPECT_TRUE(a->end_interrupted_runs({})->empty());  // alive: this process
  auto only_a1 = a->end_interrupted_runs({.run_id = "a1", .own = true});
  ASSERT_TRUE(only_a1);
  EXPECT_EQ(ids(*only_a1), std::set<std::string>{"a1"});
  std::string message(only_a1->front().error.at("message").as_string());
  EXPECT_NE(message.find("stopped before the run ended"), std::string::npos) << message;
  auto rest = a->end_interrupted_runs({.own = true});
  ASSERT_TRUE(rest);
  EXPECT_EQ(ids(*rest), std::set<std::string>{"a2"});
  EXPECT_EQ((*b->get_run("b1"))->status, "running");
  EXPECT_EQ(ids(*b->end_interrupted_runs({.own = true})), std::set<std::string>{"b1"});
  // An unknown id ends nothing and is no error.
  auto none = a->end_interrupted_runs({.run_id = "nope", .own = true});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// Several processes' worth of callers at once (threads, two store objects): each run is ended
// by exactly one of them.
TEST(InterruptedRuns, ConcurrentCallersEndEachRunOnce) {
  TempDir dir;
  auto db = dir.path() / "state.db";
  auto a = open_or_die(db);
  auto b = open_or_die(db);
  ASSERT_TRUE(a && b);
  constexpr int kRuns = 40;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = open_sqlite_store(db);
    for (int i = 0; r && i < kRuns; ++i) {
      if (!(*r)->create_run(new_run("r" + std::to_string(i)))) _exit(2);
    }
    _exit(r ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::vector<RunRecord>> got(4);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto& store = t % 2 == 0 ? a : b;
      auto r = store->end_interrupted_runs({});
      if (r) {
        got[static_cast<std::size_t>(t)] = std::move(*r);
      } else {
        ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  std::multiset<std::string> all;
  for (const auto& g : got) {
    for (const auto& r : g) all.insert(r.id);
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kRuns));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), static_cast<std::size_t>(kRuns));
}

}  // namespace
}  // namespace cppflue
