// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cppflue/core/clock.hpp"
#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using cppflue::testing::TempDir;

std::shared_ptr<Store> open_or_die(const std::filesystem::path& path) {
  auto r = open_sqlite_store(path);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

RunRecord new_run(std::string id, std::string workflow = "summarise") {
  RunRecord r;
  r.id = std::move(id);
  r.workflow = std::move(workflow);
  return r;
}

// Runs `sql` on a separate raw connection (as another tool or an older build would).
void exec_raw(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  EXPECT_EQ(rc, SQLITE_OK) << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

std::string fmt_id(int i) {
  return (i < 10 ? "run_0" : "run_") + std::to_string(i);
}

bool is_canonical_time(const std::string& t) {
  // YYYY-MM-DDTHH:MM:SS.sssZ
  return t.size() == 24 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
         t[16] == ':' && t[19] == '.' && t[23] == 'Z';
}

TEST(SqliteRuns, CreateGetFinish) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  RunRecord init = new_run("run_1");
  init.instance_id = "inst-7";
  init.payload = json_object{{"text", "hello"}, {"n", 3}};
  auto created = store->create_run(init);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ(created->id, "run_1");
  EXPECT_EQ(created->workflow, "summarise");
  EXPECT_EQ(created->instance_id, "inst-7");
  EXPECT_EQ(created->status, "running");
  EXPECT_EQ(created->payload, init.payload);
  EXPECT_TRUE(created->result.is_null());
  EXPECT_TRUE(created->error.is_null());
  EXPECT_TRUE(is_canonical_time(created->started_at)) << created->started_at;
  EXPECT_EQ(created->ended_at, "");
  EXPECT_EQ(created->duration_ms, 0);
  EXPECT_EQ(created->event_count, 0);

  auto got = store->get_run("run_1");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->payload, init.payload);
  EXPECT_EQ((*got)->started_at, created->started_at);

  json result = json_object{{"summary", "hi"}, {"tokens", 12}};
  auto finished = store->finish_run("run_1", "completed", result, nullptr);
  ASSERT_TRUE(finished.has_value()) << finished.error().message;
  EXPECT_EQ(finished->status, "completed");
  EXPECT_EQ(finished->result, result);
  EXPECT_TRUE(finished->error.is_null());
  EXPECT_TRUE(is_canonical_time(finished->ended_at)) << finished->ended_at;
  EXPECT_GE(finished->ended_at, finished->started_at);
  EXPECT_GE(finished->duration_ms, 0);
  EXPECT_EQ(finished->payload, init.payload);
  auto again = store->get_run("run_1");
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_EQ((*again)->status, "completed");
  EXPECT_EQ((*again)->ended_at, finished->ended_at);
}

TEST(SqliteRuns, DurationAndFailedRun) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  RunRecord init = new_run("run_f");
  init.started_at = iso8601(std::chrono::system_clock::now() - std::chrono::milliseconds(1500));
  ASSERT_TRUE(store->create_run(init).has_value());
  json error = json_object{{"type", "internal_error"}, {"message", "An internal error occurred."}};
  auto finished = store->finish_run("run_f", "failed", nullptr, error);
  ASSERT_TRUE(finished.has_value()) << finished.error().message;
  EXPECT_EQ(finished->status, "failed");
  EXPECT_EQ(finished->error, error);
  EXPECT_TRUE(finished->result.is_null());
  EXPECT_GE(finished->duration_ms, 1400);
  EXPECT_LT(finished->duration_ms, 60000);

  // A start in the future (another machine's clock) never gives a negative duration.
  RunRecord future = new_run("run_future");
  future.started_at = iso8601(std::chrono::system_clock::now() + std::chrono::hours(1));
  ASSERT_TRUE(store->create_run(future).has_value());
  auto aborted = store->finish_run("run_future", "aborted", nullptr, nullptr);
  ASSERT_TRUE(aborted.has_value());
  EXPECT_EQ(aborted->status, "aborted");
  EXPECT_EQ(aborted->duration_ms, 0);
}

TEST(SqliteRuns, FinishTwiceKeepsTheFirstOutcome) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_run(new_run("r")).has_value());
  auto first = store->finish_run("r", "completed", json_object{{"ok", true}}, nullptr);
  ASSERT_TRUE(first.has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto second = store->finish_run("r", "failed", nullptr, json_object{{"type", "late"}});
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->status, "completed");
  EXPECT_EQ(second->result, (json_object{{"ok", true}}));
  EXPECT_TRUE(second->error.is_null());
  EXPECT_EQ(second->ended_at, first->ended_at);
  EXPECT_EQ(second->duration_ms, first->duration_ms);

  for (const char* bad : {"running", "done", ""}) {
    auto r = store->finish_run("r", bad, nullptr, nullptr);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().type, ErrorType::invalid_input) << bad;
  }
}

TEST(SqliteRuns, CreateValidatesInput) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  EXPECT_EQ(store->create_run(new_run("")).error().type, ErrorType::invalid_input);
  EXPECT_EQ(store->create_run(new_run("r", "")).error().type, ErrorType::invalid_input);
  RunRecord done = new_run("r");
  done.status = "completed";
  EXPECT_EQ(store->create_run(done).error().type, ErrorType::invalid_input);

  // Timestamps are stored in one format, so text order is time order.
  struct Case {
    const char* in;
    const char* out;
  };
  int n = 0;
  for (Case c : {Case{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"},
                 Case{"2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05.500Z"},
                 Case{"2024-01-02 05:04:05.123+02:00", "2024-01-02T03:04:05.123Z"},
                 Case{"2024-01-02T03:04:05.006Z", "2024-01-02T03:04:05.006Z"}}) {
    RunRecord r = new_run("t" + std::to_string(n++));
    r.started_at = c.in;
    auto created = store->create_run(r);
    ASSERT_TRUE(created.has_value()) << c.in << ": " << created.error().message;
    EXPECT_EQ(created->started_at, c.out) << c.in;
  }
  for (const char* bad : {"now", "2460000.5", "yesterday", "2024-13-45T99:00:00Z", "2024-01-0"}) {
    RunRecord r = new_run("bad");
    r.started_at = bad;
    auto created = store->create_run(r);
    ASSERT_FALSE(created.has_value()) << bad;
    EXPECT_EQ(created.error().type, ErrorType::invalid_input) << bad;
  }
  EXPECT_FALSE(store->get_run("bad")->has_value());
}

TEST(SqliteRuns, DuplicateIdIsRejected) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  ASSERT_TRUE(store);
  RunRecord first = new_run("run_dup", "one");
  ASSERT_TRUE(store->create_run(first).has_value());
  ASSERT_TRUE(store->append_run_event("run_dup", "log", json_object{{"m", "x"}}).has_value());
  auto dup = store->create_run(new_run("run_dup", "two"));
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().type, ErrorType::store_error);
  EXPECT_EQ(dup.error().details.at("rule"), "duplicate_run");
  EXPECT_NE(dup.error().message.find("run_dup"), std::string::npos) << dup.error().message;
  EXPECT_NE(dup.error().message.find(path.string()), std::string::npos) << dup.error().message;
  auto kept = store->get_run("run_dup");
  ASSERT_TRUE(kept.has_value() && kept->has_value());
  EXPECT_EQ((*kept)->workflow, "one");
  EXPECT_EQ((*kept)->event_count, 1);
}

TEST(SqliteRuns, AppendAndFilterEvents) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_run(new_run("r")).has_value());
  auto empty = store->run_events("r", 0, 100);
  ASSERT_TRUE(empty.has_value()) << empty.error().message;
  EXPECT_TRUE(empty->empty());

  const std::vector<std::string> types = {"run_start", "log", "text_delta", "log", "tool_start",
                                          "tool_end",  "log", "text_delta", "log", "run_end"};
  for (std::size_t i = 0; i < types.size(); ++i) {
    auto index = store->append_run_event("r", types[i], json_object{{"i", i}, {"t", types[i]}});
    ASSERT_TRUE(index.has_value()) << index.error().message;
    EXPECT_EQ(*index, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ((*store->get_run("r"))->event_count, 10);

  auto all = store->run_events("r", 0, 100);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), types.size());
  for (std::size_t i = 0; i < all->size(); ++i) {
    const RunEvent& e = (*all)[i];
    EXPECT_EQ(e.index, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(e.type, types[i]);
    EXPECT_EQ(e.data, (json_object{{"i", i}, {"t", types[i]}}));
    EXPECT_TRUE(is_canonical_time(e.timestamp)) << e.timestamp;
    if (i > 0) {
      EXPECT_GE(e.timestamp, (*all)[i - 1].timestamp);
    }
  }

  auto window = store->run_events("r", 3, 4);
  ASSERT_TRUE(window.has_value());
  ASSERT_EQ(window->size(), 4u);
  EXPECT_EQ(window->front().index, 4);
  EXPECT_EQ(window->back().index, 7);

  auto logs = store->run_events("r", 0, 100, {"log"});
  ASSERT_TRUE(logs.has_value());
  std::vector<std::int64_t> log_indices;
  for (const auto& e : *logs) log_indices.push_back(e.index);
  EXPECT_EQ(log_indices, (std::vector<std::int64_t>{2, 4, 7, 9}));

  auto later = store->run_events("r", 4, 2, {"log", "run_end", "nope"});
  ASSERT_TRUE(later.has_value());
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].index, 7);
  EXPECT_EQ((*later)[1].index, 9);

  EXPECT_TRUE(store->run_events("r", 0, 100, {"nope"})->empty());
  EXPECT_TRUE(store->run_events("r", 10, 100)->empty());
  EXPECT_EQ(store->run_events("r", 0, 0)->size(), 1u);      // limit clamped up to 1
  EXPECT_EQ(store->run_events("r", -5, 100)->size(), 10u);  // negative after = from the start
  EXPECT_EQ(store->run_events("r", 0, 1'000'000)->size(), 10u);

  // Appending after the run has finished still works (the caller's trailing run_end).
  ASSERT_TRUE(store->finish_run("r", "completed", nullptr, nullptr).has_value());
  EXPECT_EQ(store->append_run_event("r", "log", nullptr).value(), 11);
  auto tail = store->run_events("r", 10, 10);
  ASSERT_TRUE(tail.has_value());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_TRUE((*tail)[0].data.is_null());

  EXPECT_EQ(store->append_run_event("r", "", nullptr).error().type, ErrorType::invalid_input);
}

TEST(SqliteRuns, UnknownRunIds) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  auto got = store->get_run("ghost");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->has_value());

  auto appended = store->append_run_event("ghost", "log", json_object{});
  ASSERT_FALSE(appended.has_value());
  EXPECT_EQ(appended.error().type, ErrorType::not_found);
  EXPECT_NE(appended.error().message.find("ghost"), std::string::npos);

  auto finished = store->finish_run("ghost", "completed", nullptr, nullptr);
  ASSERT_FALSE(finished.has_value());
  EXPECT_EQ(finished.error().type, ErrorType::not_found);

  auto events = store->run_events("ghost", 0, 10);
  ASSERT_FALSE(events.has_value());
  EXPECT_EQ(events.error().type, ErrorType::not_found);

  EXPECT_FALSE(store->get_run("ghost")->has_value());  // nothing was created on the way
}

TEST(SqliteRuns, ListRunsPagesNewestFirst) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  auto empty = store->list_runs({});
  ASSERT_TRUE(empty.has_value()) << empty.error().message;
  EXPECT_TRUE(empty->runs.empty());
  EXPECT_EQ(empty->next_cursor, "");

  // Pairs of runs share a start time, so the id must break ties for paging to be exact.
  const auto base = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1};
  for (int i = 0; i < 25; ++i) {
    RunRecord r = new_run(fmt_id(i), i % 2 ? "wf-b" : "wf-a");
    r.started_at = iso8601(base + std::chrono::seconds(i / 2));
    ASSERT_TRUE(store->create_run(r).has_value());
    if (i % 3 == 0) {
      ASSERT_TRUE(store->finish_run(r.id, "completed", i, nullptr).has_value());
    }
  }

  std::vector<RunRecord> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store->list_runs({.limit = 10, .cursor = cursor});
    ASSERT_TRUE(page.has_value()) << page.error().message;
    ++pages;
    EXPECT_EQ(page->runs.size(), pages < 3 ? 10u : 5u);
    seen.insert(seen.end(), page->runs.begin(), page->runs.end());
    cursor = page->next_cursor;
    ASSERT_LE(pages, 3);
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  std::set<std::string> ids;
  for (const auto& r : seen) ids.insert(r.id);
  EXPECT_EQ(ids.size(), 25u);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GT(std::make_pair(seen[i - 1].started_at, seen[i - 1].id),
              std::make_pair(seen[i].started_at, seen[i].id));
  }
  EXPECT_EQ(seen.front().id, fmt_id(24));
  EXPECT_EQ(seen.back().id, fmt_id(0));

  // Filters, alone and together, also page.
  auto count = [&](RunQuery q) {
    std::size_t n = 0;
    do {
      auto page = store->list_runs(q);
      EXPECT_TRUE(page.has_value()) << page.error().message;
      if (!page) return n;
      for (const auto& r : page->runs) {
        if (!q.workflow.empty()) {
          EXPECT_EQ(r.workflow, q.workflow);
        }
        if (!q.status.empty()) {
          EXPECT_EQ(r.status, q.status);
        }
      }
      n += page->runs.size();
      q.cursor = page->next_cursor;
    } while (!q.cursor.empty());
    return n;
  };
  EXPECT_EQ(count({.workflow = "wf-a", .limit = 4}), 13u);
  EXPECT_EQ(count({.workflow = "wf-b", .limit = 4}), 12u);
  EXPECT_EQ(count({.status = "completed", .limit = 3}), 9u);  // 0, 3, ..., 24
  EXPECT_EQ(count({.status = "running", .limit = 100}), 16u);
  EXPECT_EQ(count({.workflow = "wf-a", .status = "completed", .limit = 2}), 5u);  // 0, 6, .., 24
  EXPECT_EQ(count({.workflow = "nope"}), 0u);

  // The limit is clamped, not rejected.
  auto one = store->list_runs({.limit = 0});
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->runs.size(), 1u);
  EXPECT_FALSE(one->next_cursor.empty());
  auto all = store->list_runs({.limit = 1'000'000});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->runs.size(), 25u);
  EXPECT_EQ(all->next_cursor, "");
  // A page that ends exactly at the last run has no cursor.
  auto exact = store->list_runs({.limit = 25});
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->next_cursor, "");
}

TEST(SqliteRuns, InstanceStatusSetAndOffsetCursors) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  const auto base = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1};
  // 12 runs: agent "a" instances i0..i2 (4 each), statuses cycle running/completed/failed/aborted.
  const char* statuses[] = {"running", "completed", "failed", "aborted"};
  for (int i = 0; i < 12; ++i) {
    RunRecord r = new_run(fmt_id(i), "a");
    r.instance_id = "i" + std::to_string(i % 3);
    r.started_at = iso8601(base + std::chrono::seconds(i));
    ASSERT_TRUE(store->create_run(r).has_value());
    if (i % 4 != 0) {
      ASSERT_TRUE(store->finish_run(r.id, statuses[i % 4], nullptr, nullptr).has_value());
    }
  }
  RunRecord wf = new_run("run_wf", "nightly");  // no instance
  ASSERT_TRUE(store->create_run(wf).has_value());

  auto i1 = store->list_runs({.workflow = "a", .instance_id = "i1"});
  ASSERT_TRUE(i1.has_value()) << i1.error().message;
  std::vector<std::string> ids;
  for (const auto& r : i1->runs) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"run_10", "run_07", "run_04", "run_01"}));

  // A status set (failed or aborted), paged with the keyset cursor.
  std::vector<std::string> errored;
  RunQuery q{.status = "failed, aborted", .limit = 2};
  do {
    auto page = store->list_runs(q);
    ASSERT_TRUE(page.has_value()) << page.error().message;
    for (const auto& r : page->runs) {
      errored.push_back(r.id);
      EXPECT_TRUE(r.status == "failed" || r.status == "aborted") << r.status;
    }
    q.cursor = page->next_cursor;
  } while (!q.cursor.empty());
  EXPECT_EQ(errored,
            (std::vector<std::string>{"run_11", "run_10", "run_07", "run_06", "run_03", "run_02"}));

  // Offset cursors (PyFlue's {"offset":N} and a bare number) skip N runs; the next page then
  // continues with a keyset cursor.
  auto all = store->list_runs({.workflow = "a"});
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->runs.size(), 12u);
  for (const std::string& cursor : {std::string("eyJvZmZzZXQiOjJ9"), std::string("2")}) {
    auto page = store->list_runs({.workflow = "a", .limit = 3, .cursor = cursor});
    ASSERT_TRUE(page.has_value()) << cursor << ": " << page.error().message;
    ASSERT_EQ(page->runs.size(), 3u);
    EXPECT_EQ(page->runs[0].id, all->runs[2].id);
    auto next = store->list_runs({.workflow = "a", .limit = 3, .cursor = page->next_cursor});
    ASSERT_TRUE(next.has_value());
    ASSERT_EQ(next->runs.size(), 3u);
    EXPECT_EQ(next->runs[0].id, all->runs[5].id);
  }
  auto past = store->list_runs({.cursor = "500"});
  ASSERT_TRUE(past.has_value());
  EXPECT_TRUE(past->runs.empty());
  EXPECT_EQ(past->next_cursor, "");

  // Names: agents with runs, and one agent's instances, paged.
  auto workflows = store->list_run_workflows({.limit = 1});
  ASSERT_TRUE(workflows.has_value()) << workflows.error().message;
  EXPECT_EQ(workflows->names, std::vector<std::string>{"a"});
  ASSERT_FALSE(workflows->next_cursor.empty());
  auto rest = store->list_run_workflows({.limit = 1, .cursor = workflows->next_cursor});
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->names, std::vector<std::string>{"nightly"});
  EXPECT_EQ(rest->next_cursor, "");

  std::vector<std::string> instances;
  NameQuery nq{.workflow = "a", .limit = 2};
  do {
    auto page = store->list_run_instances(nq);
    ASSERT_TRUE(page.has_value()) << page.error().message;
    instances.insert(instances.end(), page->names.begin(), page->names.end());
    nq.cursor = page->next_cursor;
  } while (!nq.cursor.empty());
  EXPECT_EQ(instances, (std::vector<std::string>{"i0", "i1", "i2"}));
  auto skipped = store->list_run_instances({.workflow = "a", .cursor = "eyJvZmZzZXQiOjJ9"});
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->names, std::vector<std::string>{"i2"});
  auto none = store->list_run_instances({.workflow = "nightly"});  // its run has no instance
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->names.empty());

  // Bad input: a run cursor is not a name cursor, negative offsets, no workflow.
  for (const std::string& bad :
       {std::string("eyJzIjoiYSIsInIiOiJiIn0"),  // {"s":"a","r":"b"}: a run cursor
        std::string("eyJvZmZzZXQiOi0xfQ"),       // {"offset":-1}
        std::string("eyJvZmZzZXQiOiJ4In0"),      // {"offset":"x"}
        std::string("99999999999999999999999")}) {
    auto r = store->list_run_workflows({.cursor = bad});
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().type, ErrorType::invalid_input) << bad;
  }
  auto name_cursor_for_runs = store->list_runs({.cursor = workflows->next_cursor});
  ASSERT_FALSE(name_cursor_for_runs.has_value());
  auto no_workflow = store->list_run_instances({});
  ASSERT_FALSE(no_workflow.has_value());
  EXPECT_EQ(no_workflow.error().type, ErrorType::invalid_input);
}

TEST(SqliteRuns, BadCursorIsInvalidInput) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_run(new_run("a")).has_value());
  ASSERT_TRUE(store->create_run(new_run("b")).has_value());
  auto first = store->list_runs({.limit = 1});
  ASSERT_TRUE(first.has_value());
  ASSERT_FALSE(first->next_cursor.empty());
  EXPECT_TRUE(store->list_runs({.cursor = first->next_cursor}).has_value());

  for (const std::string& bad : {
           std::string("!!!"), std::string("not base64 at all"),
           std::string("e30"),                 // {}
           std::string("WzFd"),                // [1]
           std::string("eyJzIjoxLCJyIjoyfQ"),  // {"s":1,"r":2}
           std::string("eyJzIjoiYSJ9"),        // {"s":"a"}
           std::string("aGVsbG8"),             // hello
           std::string("A"),                   // impossible length
           std::string(10000, 'A'),            // absurdly long
       }) {
    auto r = store->list_runs({.cursor = bad});
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().type, ErrorType::invalid_input) << bad;
  }
}

TEST(SqliteRuns, ConcurrentAppendsGetUniqueContiguousIndices) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  auto other = open_or_die(path);  // a second connection, as another process would have
  ASSERT_TRUE(store && other);
  ASSERT_TRUE(store->create_run(new_run("hot")).has_value());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::atomic<int> failures{0};
  std::vector<std::vector<std::int64_t>> indices(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 ? *other : *store;
      for (int i = 0; i < kPerThread; ++i) {
        auto index = s.append_run_event("hot", "log", json_object{{"t", t}, {"i", i}});
        if (!index) {
          ++failures;
          continue;
        }
        indices[t].push_back(*index);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  std::vector<std::int64_t> all;
  for (const auto& v : indices) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<std::int64_t>(i + 1));

  EXPECT_EQ((*store->get_run("hot"))->event_count, kThreads * kPerThread);
  auto events = other->run_events("hot", 0, 10000);
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), all.size());
  // Each thread's events are stored in the order it appended them.
  std::vector<std::int64_t> last(kThreads, -1);
  for (std::size_t i = 0; i < events->size(); ++i) {
    const RunEvent& e = (*events)[i];
    EXPECT_EQ(e.index, static_cast<std::int64_t>(i + 1));
    auto t = e.data.at("t").to_number<int>();
    auto n = e.data.at("i").to_number<std::int64_t>();
    EXPECT_GT(n, last[t]);
    last[t] = n;
    if (i > 0) {
      EXPECT_GE(e.timestamp, (*events)[i - 1].timestamp);
    }
  }
}

// Two processes appending to one run: SQLite's file locks, not our mutex, keep indices unique.
TEST(SqliteRuns, TwoProcessesAppendToOneRun) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  {
    auto setup = open_or_die(path);
    ASSERT_TRUE(setup);
    ASSERT_TRUE(setup->create_run(new_run("xproc")).has_value());
  }
  constexpr int kPerProcess = 200;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // No gtest assertions here: report through the exit status only.
    auto r = open_sqlite_store(path);
    if (!r) _exit(2);
    for (int i = 0; i < kPerProcess; ++i) {
      if (!(*r)->append_run_event("xproc", "child", json_object{{"i", i}})) _exit(3);
    }
    _exit(0);
  }
  auto store = open_or_die(path);
  int failures = 0;
  for (int i = 0; store && i < kPerProcess; ++i) {
    if (!store->append_run_event("xproc", "parent", json_object{{"i", i}})) ++failures;
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(failures, 0);
  ASSERT_TRUE(store);
  auto events = store->run_events("xproc", 0, 10000);
  ASSERT_TRUE(events.has_value()) << events.error().message;
  ASSERT_EQ(events->size(), 2u * kPerProcess);
  for (std::size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].index, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ(store->run_events("xproc", 0, 10000, {"child"})->size(),
            static_cast<std::size_t>(kPerProcess));
  EXPECT_EQ((*store->get_run("xproc"))->event_count, 2 * kPerProcess);
}

TEST(SqliteRuns, SecondInstanceSeesCommittedRuns) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto first = open_or_die(path);
  auto second = open_or_die(path);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->create_run(new_run("shared")).has_value());
  ASSERT_TRUE(first->append_run_event("shared", "run_start", json_object{}).has_value());
  ASSERT_TRUE(first->append_run_event("shared", "log", json_object{{"m", "hi"}}).has_value());

  auto seen = second->run_events("shared", 0, 100);
  ASSERT_TRUE(seen.has_value()) << seen.error().message;
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ((*seen)[1].data.at("m"), "hi");
  EXPECT_EQ((*second->get_run("shared"))->event_count, 2);

  EXPECT_EQ(second->append_run_event("shared", "log", json_object{}).value(), 3);
  ASSERT_TRUE(second->finish_run("shared", "completed", "done", nullptr).has_value());
  EXPECT_EQ(first->append_run_event("shared", "run_end", json_object{}).value(), 4);
  auto run = first->get_run("shared");
  ASSERT_TRUE(run.has_value() && run->has_value());
  EXPECT_EQ((*run)->status, "completed");
  EXPECT_EQ((*run)->result, "done");
  EXPECT_EQ((*run)->event_count, 4);
  // The first instance's finish comes too late and changes nothing.
  EXPECT_EQ(first->finish_run("shared", "aborted", nullptr, nullptr)->status, "completed");
  EXPECT_EQ(first->list_runs({})->runs.size(), 1u);
}

TEST(SqliteRuns, ReopenKeepsRuns) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  {
    auto store = open_or_die(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->create_run(new_run("kept")).has_value());
    ASSERT_TRUE(store->append_run_event("kept", "log", json_object{{"k", 1}}).has_value());
  }
  auto store = open_or_die(path);
  ASSERT_TRUE(store);
  auto run = store->get_run("kept");
  ASSERT_TRUE(run.has_value() && run->has_value());
  EXPECT_EQ((*run)->event_count, 1);
  EXPECT_EQ(store->append_run_event("kept", "log", json_object{}).value(), 2);
}

// The version-1 schema exactly as the first release created it.
constexpr const char* kVersion1Schema = R"sql(
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT;
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  parent_id TEXT,
  agent TEXT,
  instance_id TEXT,
  metadata TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE entries (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  role TEXT,
  content TEXT NOT NULL,
  source TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
) STRICT;
CREATE TRIGGER entries_touch_session AFTER INSERT ON entries BEGIN
  UPDATE sessions SET updated_at = NEW.created_at WHERE id = NEW.session_id;
END;
INSERT INTO schema_version VALUES (1, '2024-01-01T00:00:00.000Z');
INSERT INTO sessions VALUES ('old', NULL, 'coder', 'i-1', '{"title":"legacy"}',
  '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:01.000Z');
INSERT INTO entries VALUES ('old', 1, 'message', 'user', '{"role":"user","content":"hi"}',
  'prompt', '2024-01-01T00:00:01.000Z');
)sql";

int schema_version(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &st, nullptr),
            SQLITE_OK);
  int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return version;
}

TEST(SqliteRuns, UpgradesVersion1DatabaseInPlace) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  exec_raw(path, kVersion1Schema);
  ASSERT_EQ(schema_version(path), 1);

  auto store = open_or_die(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(schema_version(path), 7);

  auto session = store->get_session("old");
  ASSERT_TRUE(session.has_value() && session->has_value()) << "legacy session lost";
  EXPECT_EQ((*session)->agent, "coder");
  EXPECT_EQ((*session)->metadata, (json_object{{"title", "legacy"}}));
  EXPECT_EQ((*session)->entry_count, 1);
  auto entries = store->entries("old");
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].content.at("content"), "hi");
  EXPECT_EQ(store->append_entry("old", Entry{.kind = "marker", .content = nullptr}).value(), 2);

  ASSERT_TRUE(store->create_run(new_run("run_new")).has_value());
  EXPECT_EQ(store->append_run_event("run_new", "run_start", json_object{}).value(), 1);
  EXPECT_EQ(store->finish_run("run_new", "completed", 1, nullptr)->status, "completed");
  EXPECT_EQ(store->list_runs({})->runs.size(), 1u);

  // Reopening the upgraded file applies nothing again.
  store.reset();
  auto again = open_or_die(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(schema_version(path), 7);
  EXPECT_EQ((*again->get_run("run_new"))->event_count, 1);
  EXPECT_EQ((*again->get_session("old"))->entry_count, 2);
}

TEST(SqliteRuns, CorruptJsonColumnIsAStoreError) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_run(new_run("run_bad")).has_value());
  ASSERT_TRUE(store->append_run_event("run_bad", "log", json_object{}).has_value());
  ASSERT_TRUE(store->append_run_event("run_bad", "log", json_object{}).has_value());
  exec_raw(path,
           "UPDATE runs SET result = '{not json' WHERE id = 'run_bad';"
           "UPDATE run_events SET data = '[1,' WHERE run_id = 'run_bad' AND idx = 2;");

  auto got = store->get_run("run_bad");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().type, ErrorType::store_error);
  EXPECT_NE(got.error().message.find("run_bad"), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find("result"), std::string::npos) << got.error().message;
  EXPECT_EQ(got.error().details.at("column"), "result");
  EXPECT_EQ(got.error().details.at("run"), "run_bad");

  auto listed = store->list_runs({});
  ASSERT_FALSE(listed.has_value());
  EXPECT_EQ(listed.error().type, ErrorType::store_error);

  auto finished = store->finish_run("run_bad", "completed", nullptr, nullptr);
  ASSERT_TRUE(finished.has_value()) << "finishing rewrites the column";
  EXPECT_TRUE(finished->result.is_null());

  auto first_event = store->run_events("run_bad", 0, 1);
  ASSERT_TRUE(first_event.has_value()) << first_event.error().message;
  auto events = store->run_events("run_bad", 0, 10);
  ASSERT_FALSE(events.has_value());
  EXPECT_EQ(events.error().type, ErrorType::store_error);
  EXPECT_NE(events.error().message.find("run_bad"), std::string::npos) << events.error().message;
  EXPECT_NE(events.error().message.find("data"), std::string::npos) << events.error().message;
  EXPECT_EQ(events.error().details.at("event"), 2);
}

}  // namespace
}  // namespace cppflue
