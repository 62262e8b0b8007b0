// SPDX-License-Identifier: Apache-2.0
// The store's seams: the EntryKind / RunStatus / DispatchState enums give exactly the stored
// strings, a Store is usable through each of its three interfaces (SessionStore, RunStore,
// DispatchStore), and the input rules every backend shares refuse what they always refused.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>
#include <string>

#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using cppflue::testing::TempDir;
using namespace std::chrono_literals;

// The conversions are constexpr: usable in constant expressions (and switch labels).
static_assert(to_string(EntryKind::compaction) == "compaction");
static_assert(parse_run_status("aborted") == RunStatus::aborted);
static_assert(!parse_dispatch_state("Done").has_value());
static_assert(is_terminal(DispatchState::failed) && !is_terminal(RunStatus::running));

std::shared_ptr<Store> open_or_die(const std::filesystem::path& path) {
  auto r = open_sqlite_store(path);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

// The one text value `sql` selects, read on a separate raw connection.
std::string raw_text(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST(StoreEnums, StringsAreTheStoredFormat) {
  EXPECT_EQ(to_string(EntryKind::message), "message");
  EXPECT_EQ(to_string(EntryKind::marker), "marker");
  EXPECT_EQ(to_string(EntryKind::compaction), "compaction");

  EXPECT_EQ(to_string(RunStatus::running), "running");
  EXPECT_EQ(to_string(RunStatus::completed), "completed");
  EXPECT_EQ(to_string(RunStatus::failed), "failed");
  EXPECT_EQ(to_string(RunStatus::aborted), "aborted");

  EXPECT_EQ(to_string(DispatchState::pending), "pending");
  EXPECT_EQ(to_string(DispatchState::leased), "leased");
  EXPECT_EQ(to_string(DispatchState::done), "done");
  EXPECT_EQ(to_string(DispatchState::failed), "failed");

  // The record defaults are the initial values.
  EXPECT_EQ(parse_run_status(RunRecord{}.status), RunStatus::running);
  EXPECT_EQ(parse_dispatch_state(DispatchItem{}.state), DispatchState::pending);
}

TEST(StoreEnums, ParseRoundTripsAndIsExact) {
  for (auto k : {EntryKind::message, EntryKind::marker, EntryKind::compaction}) {
    EXPECT_EQ(parse_entry_kind(to_string(k)), k);
  }
  for (auto s : {RunStatus::running, RunStatus::completed, RunStatus::failed, RunStatus::aborted}) {
    EXPECT_EQ(parse_run_status(to_string(s)), s);
  }
  for (auto s : {DispatchState::pending, DispatchState::leased, DispatchState::done,
                 DispatchState::failed}) {
    EXPECT_EQ(parse_dispatch_state(to_string(s)), s);
  }
  for (const char* bad : {"", "Message", "message ", " marker", "prompt"}) {
    EXPECT_FALSE(parse_entry_kind(bad).has_value()) << bad;
  }
  for (const char* bad : {"", "RUNNING", "succeeded", "active", "cancelled", "done"}) {
    EXPECT_FALSE(parse_run_status(bad).has_value()) << bad;
  }
  for (const char* bad : {"", "Pending", "completed", "aborted", "leased,done"}) {
    EXPECT_FALSE(parse_dispatch_state(bad).has_value()) << bad;
  }
}

TEST(StoreEnums, TerminalValues) {
  EXPECT_FALSE(is_terminal(RunStatus::running));
  EXPECT_TRUE(is_terminal(RunStatus::completed));
  EXPECT_TRUE(is_terminal(RunStatus::failed));
  EXPECT_TRUE(is_terminal(RunStatus::aborted));
  EXPECT_FALSE(is_terminal(DispatchState::pending));
  EXPECT_FALSE(is_terminal(DispatchState::leased));
  EXPECT_TRUE(is_terminal(DispatchState::done));
  EXPECT_TRUE(is_terminal(DispatchState::failed));
}

TEST(StoreParts, EachInterfaceServesItsAggregate) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  std::shared_ptr<SessionStore> sessions = store;
  std::shared_ptr<RunStore> runs = store;
  std::shared_ptr<DispatchStore> dispatch = store;
  store.reset();  // each part keeps the whole store (and its connection) alive

  ASSERT_TRUE(sessions->open_session("s1", {}).has_value());
  Entry e;
  e.kind = to_string(EntryKind::marker);
  e.content = json_object{{"event", "test"}};
  EXPECT_EQ(sessions->append_entry("s1", e).value(), 1);
  auto entries = sessions->entries("s1");
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(parse_entry_kind((*entries)[0].kind), EntryKind::marker);

  RunRecord run;
  run.id = "r1";
  run.workflow = "wf";
  auto created = runs->create_run(run);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ(parse_run_status(created->status), RunStatus::running);
  auto finished = runs->finish_run("r1", std::string(to_string(RunStatus::aborted)), nullptr,
                                   json_object{{"type", "cancelled"}});
  ASSERT_TRUE(finished.has_value()) << finished.error().message;
  EXPECT_EQ(parse_run_status(finished->status), RunStatus::aborted);

  DispatchItem item;
  item.id = "d1";
  item.agent = "a";
  item.instance_id = "i";
  item.session = "i:s";
  item.input = "hi";
  auto queued = dispatch->enqueue_dispatch(item);
  ASSERT_TRUE(queued.has_value()) << queued.error().message;
  EXPECT_EQ(parse_dispatch_state(queued->state), DispatchState::pending);
  auto leased = dispatch->lease_dispatch(60s);
  ASSERT_TRUE(leased && *leased);
  EXPECT_EQ(parse_dispatch_state((*leased)->state), DispatchState::leased);
  ASSERT_TRUE(
      dispatch->finish_dispatch("d1", std::string(to_string(DispatchState::done)), nullptr));
  auto counts = dispatch->dispatch_counts();
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->at(std::string(to_string(DispatchState::done))), 1);
}

TEST(StoreParts, StoredStringsAreTheEnumStrings) {
  TempDir dir;
  const auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  ASSERT_TRUE(store);
  RunRecord run;
  run.id = "r1";
  run.workflow = "wf";
  ASSERT_TRUE(store->create_run(run).has_value());
  EXPECT_EQ(raw_text(path, "SELECT status FROM runs WHERE id = 'r1'"), "running");
  ASSERT_TRUE(store->finish_run("r1", "failed", nullptr, nullptr).has_value());
  EXPECT_EQ(raw_text(path, "SELECT status FROM runs WHERE id = 'r1'"), "failed");

  DispatchItem item;
  item.id = "d1";
  item.agent = "a";
  item.instance_id = "i";
  item.session = "i:s";
  ASSERT_TRUE(store->enqueue_dispatch(item).has_value());
  EXPECT_EQ(raw_text(path, "SELECT state FROM dispatch WHERE id = 'd1'"), "pending");
  ASSERT_TRUE(store->lease_dispatch(60s).value().has_value());
  EXPECT_EQ(raw_text(path, "SELECT state FROM dispatch WHERE id = 'd1'"), "leased");
  EXPECT_EQ(store->release_dispatch_leases().value(), 1);
  EXPECT_EQ(raw_text(path, "SELECT state FROM dispatch WHERE id = 'd1'"), "pending");
  ASSERT_TRUE(store->lease_dispatch(60s).value().has_value());
  ASSERT_TRUE(store->finish_dispatch("d1", "failed", json_object{{"type", "x"}}).has_value());
  EXPECT_EQ(raw_text(path, "SELECT state FROM dispatch WHERE id = 'd1'"), "failed");
}

TEST(StoreParts, SharedInputRulesKeepTheirErrors) {
  TempDir dir;
  const auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  ASSERT_TRUE(store);

  auto no_id = store->open_session("", {});
  ASSERT_FALSE(no_id.has_value());
  EXPECT_EQ(no_id.error().type, ErrorType::invalid_input);
  EXPECT_EQ(no_id.error().message, "session id must not be empty");

  RunRecord run;
  run.id = "r1";
  run.workflow = "wf";
  run.status = "Running";
  auto bad_status = store->create_run(run);
  ASSERT_FALSE(bad_status.has_value());
  EXPECT_EQ(bad_status.error().message, "run r1: a new run must be \"running\", not \"Running\"");
  EXPECT_EQ(bad_status.error().details.at("status"), "Running");
  run.status = "";
  ASSERT_TRUE(store->create_run(run).has_value());

  auto not_terminal = store->finish_run("r1", "running", nullptr, nullptr);
  ASSERT_FALSE(not_terminal.has_value());
  EXPECT_EQ(not_terminal.error().type, ErrorType::invalid_input);
  EXPECT_EQ(not_terminal.error().message,
            "run r1: cannot finish with status \"running\" (expected completed, failed or "
            "aborted)");
  auto ghost = store->finish_run("ghost", "completed", nullptr, nullptr);
  ASSERT_FALSE(ghost.has_value());
  EXPECT_EQ(ghost.error().type, ErrorType::not_found);
  EXPECT_EQ(ghost.error().message, "run ghost not found");
  EXPECT_EQ(ghost.error().details, (json_object{{"path", path.string()}, {"run", "ghost"}}));

  auto pending = store->finish_dispatch("d1", "pending", nullptr);
  ASSERT_FALSE(pending.has_value());
  EXPECT_EQ(pending.error().type, ErrorType::invalid_input);
  EXPECT_EQ(pending.error().message,
            "dispatch d1: cannot finish with state \"pending\" (expected done or failed)");
  auto missing = store->begin_dispatch_attempt("d9", 0);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message, "dispatch d9 not found");
  EXPECT_EQ(missing.error().details, (json_object{{"path", path.string()}, {"dispatch", "d9"}}));

  auto metadata = store->update_metadata("nobody", json_object{});
  ASSERT_FALSE(metadata.has_value());
  EXPECT_EQ(metadata.error().message, "session nobody not found");
  EXPECT_EQ(metadata.error().details,
            (json_object{{"path", path.string()}, {"session", "nobody"}}));
}

// A session's context is read from the last compaction's first kept entry on; what the
// compaction replaced is never read. entries() still has everything.
TEST(StoreParts, ContextEntriesStartAtTheLastCompactionsFirstKeptEntry) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->open_session("s", {}));
  auto message = [&](int i) {
    Entry e;
    e.kind = "message";
    e.role = i % 2 ? "user" : "assistant";
    e.content = json_object{{"role", e.role}, {"text", std::to_string(i)}};
    return store->append_entry("s", e).value();
  };
  auto compaction = [&](json first_kept) {
    Entry e;
    e.kind = "compaction";
    e.content = json_object{{"summary", "S"}, {"first_kept_seq", std::move(first_kept)}};
    return store->append_entry("s", e).value();
  };
  auto seqs = [&](const std::vector<Entry>& es) {
    std::vector<std::int64_t> out;
    out.reserve(es.size());
    for (const auto& e : es) out.push_back(e.seq);
    return out;
  };
  for (int i = 1; i <= 8; ++i) message(i);
  EXPECT_EQ(seqs(*store->context_entries("s")).size(), 8u);  // nothing compacted: everything
  EXPECT_EQ(compaction(5), 9);
  for (int i = 10; i <= 20; ++i) message(i);
  EXPECT_EQ(compaction(17), 21);
  message(22);
  const std::vector<std::int64_t> want{17, 18, 19, 20, 21, 22};
  EXPECT_EQ(seqs(*store->context_entries("s")), want);
  EXPECT_EQ(context_start(*store->entries("s")), 17);
  EXPECT_EQ(store->entries("s")->size(), 22u);
  // A compaction that says nothing usable: everything, for the reader to name the entry.
  compaction("seventeen");
  EXPECT_EQ(store->context_entries("s")->size(), 23u);
  EXPECT_EQ(context_start(*store->entries("s")), 1);
  // A first kept entry past the compaction itself is clamped to it.
  EXPECT_EQ(compaction(1000), 24);
  EXPECT_EQ(seqs(*store->context_entries("s")), std::vector<std::int64_t>{24});
  EXPECT_TRUE(store->context_entries("nosuch")->empty());
}

// Pages of the history: after a seq, at most `limit`; the same pages from the default
// implementation (every entry read) and from SQLite.
TEST(StoreParts, EntriesComeInPages) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->open_session("s", {}));
  ASSERT_TRUE(store->open_session("other", {}));
  for (int i = 1; i <= 7; ++i) {
    Entry e;
    e.kind = "message";
    e.role = "user";
    e.content = json_object{{"role", "user"}, {"text", std::to_string(i)}};
    ASSERT_TRUE(store->append_entry("s", e));
    ASSERT_TRUE(store->append_entry("other", e));
  }
  auto seqs = [](const Result<std::vector<Entry>>& es) {
    std::vector<std::int64_t> out;
    if (!es) return out;
    for (const auto& e : *es) out.push_back(e.seq);
    return out;
  };
  using V = std::vector<std::int64_t>;
  SessionStore& sqlite = *store;
  EXPECT_EQ(seqs(sqlite.entries_page("s", 0, 3)), (V{1, 2, 3}));
  EXPECT_EQ(seqs(sqlite.entries_page("s", 3, 3)), (V{4, 5, 6}));
  EXPECT_EQ(seqs(sqlite.entries_page("s", 6, 3)), (V{7}));
  EXPECT_EQ(seqs(sqlite.entries_page("s", 7, 3)), V{});
  EXPECT_EQ(seqs(sqlite.entries_page("s", -5, 2)), (V{1, 2}));
  EXPECT_EQ(seqs(sqlite.entries_page("s", 0, 0)), V{});
  EXPECT_EQ(seqs(sqlite.entries_page("s", INT64_MAX, 10)), V{});
  EXPECT_EQ(seqs(sqlite.entries_page("s", 2, SIZE_MAX)), (V{3, 4, 5, 6, 7}));
  EXPECT_EQ(seqs(sqlite.entries_page("nosuch", 0, 10)), V{});
  // The default implementation gives the same pages.
  EXPECT_EQ(seqs(sqlite.SessionStore::entries_page("s", 3, 3)), (V{4, 5, 6}));
  EXPECT_EQ(seqs(sqlite.SessionStore::entries_page("s", 0, 0)), V{});
  EXPECT_EQ(seqs(sqlite.SessionStore::entries_page("s", 6, 100)), (V{7}));
}

}  // namespace
}  // namespace cppflue
