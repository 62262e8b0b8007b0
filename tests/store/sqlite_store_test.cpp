// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using cppflue::testing::TempDir;
using cppflue::testing::write_file;

std::shared_ptr<Store> open_or_die(const std::filesystem::path& path) {
  auto r = open_sqlite_store(path);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

Entry message(std::string role, std::string text) {
  Entry e;
  e.kind = "message";
  e.role = std::move(role);
  e.content = json_object{{"role", e.role}, {"content", text}};
  e.source = "prompt";
  return e;
}

TEST(SqliteStore, CreatesDirectoriesAndSchemaIdempotently) {
  TempDir dir;
  auto path = dir.path() / "nested" / ".cppflue" / "state.db";
  {
    auto store = open_or_die(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->open_session("s1", {}).has_value());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  // Reopening runs no migration twice and keeps the data.
  auto again = open_or_die(path);
  ASSERT_TRUE(again);
  auto s = again->get_session("s1");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_TRUE(s->has_value());

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_version", -1, &st, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 7);  // one row per migration
  EXPECT_EQ(sqlite3_column_int(st, 1), 7);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(SqliteStore, OpenSessionCreatesOnceAndKeepsFields) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  SessionInit init{
      .parent_id = "p", .agent = "coder", .instance_id = "i-1", .metadata = json_object{{"k", 1}}};
  auto a = store->open_session("s1", init);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->id, "s1");
  EXPECT_EQ(a->parent_id, "p");
  EXPECT_EQ(a->agent, "coder");
  EXPECT_EQ(a->instance_id, "i-1");
  EXPECT_EQ(a->metadata, (json_object{{"k", 1}}));
  EXPECT_EQ(a->entry_count, 0);
  EXPECT_FALSE(a->created_at.empty());
  EXPECT_EQ(a->created_at, a->updated_at);

  // A second open returns the existing record, ignoring the new init.
  auto b = store->open_session("s1", SessionInit{.agent = "other"});
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->agent, "coder");
  EXPECT_EQ(b->created_at, a->created_at);

  auto missing = store->get_session("nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());

  auto empty = store->open_session("", {});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().type, ErrorType::invalid_input);
}

TEST(SqliteStore, AppendAndReadInOrder) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->open_session("s", {}).has_value());
  for (int i = 0; i < 5; ++i) {
    auto seq = store->append_entry("s", message(i % 2 ? "assistant" : "user", std::to_string(i)));
    ASSERT_TRUE(seq.has_value()) << seq.error().message;
    EXPECT_EQ(*seq, i + 1);
  }
  Entry marker;
  marker.kind = "marker";
  marker.content = nullptr;
  ASSERT_EQ(store->append_entry("s", marker).value(), 6);

  auto entries = store->entries("s");
  ASSERT_TRUE(entries.has_value()) << entries.error().message;
  ASSERT_EQ(entries->size(), 6u);
  for (int i = 0; i < 5; ++i) {
    const Entry& e = (*entries)[i];
    EXPECT_EQ(e.seq, i + 1);
    EXPECT_EQ(e.kind, "message");
    EXPECT_EQ(e.role, i % 2 ? "assistant" : "user");
    EXPECT_EQ(e.content.at("content"), json(std::to_string(i)));
    EXPECT_EQ(e.source, "prompt");
    EXPECT_FALSE(e.created_at.empty());
  }
  EXPECT_EQ((*entries)[5].kind, "marker");
  EXPECT_EQ((*entries)[5].role, "");
  EXPECT_EQ((*entries)[5].source, "");
  EXPECT_TRUE((*entries)[5].content.is_null());

  auto s = store->get_session("s");
  ASSERT_TRUE(s.has_value() && s->has_value());
  EXPECT_EQ((*s)->entry_count, 6);
  EXPECT_EQ((*s)->updated_at, (*entries)[5].created_at);

  auto none = store->entries("unknown");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST(SqliteStore, AppendToMissingSessionIsNotFound) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  auto r = store->append_entry("ghost", message("user", "hi"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::not_found);
  EXPECT_NE(r.error().message.find("ghost"), std::string::npos);
}

TEST(SqliteStore, EntryContentRoundTrips) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->open_session("s", {}).has_value());
  json content = boost::json::parse(R"({
    "role": "assistant",
    "content": [{"type": "text", "text": "h\u00e9llo \"quoted\"\n\u0000 \ud83d\ude00"}],
    "tool_calls": [{"id": "c1", "name": "bash", "arguments": {"cmd": "ls -la", "n": 3}}],
    "usage": {"input": 12345678901, "ratio": 0.25, "cached": true, "none": null},
    "empty": {}, "list": []
  })");
  Entry e;
  e.kind = "message";
  e.role = "assistant";
  e.content = content;
  e.source = "stream";
  e.created_at = "2024-01-02T03:04:05.006Z";
  ASSERT_TRUE(store->append_entry("s", e).has_value());
  Entry big;
  big.kind = "message";
  big.content = std::string(200000, 'x');
  ASSERT_TRUE(store->append_entry("s", big).has_value());

  auto entries = store->entries("s");
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].content, content);
  EXPECT_EQ((*entries)[0].created_at, "2024-01-02T03:04:05.006Z");
  EXPECT_EQ((*entries)[1].content.as_string().size(), 200000u);
}

TEST(SqliteStore, UpdateMetadata) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->open_session("s", {}).has_value());
  json meta = json_object{{"title", "Fix bug"}, {"tags", json_array{"a", "b"}}};
  auto r = store->update_metadata("s", meta);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto s = store->get_session("s");
  ASSERT_TRUE(s.has_value() && s->has_value());
  EXPECT_EQ((*s)->metadata, meta);

  auto missing = store->update_metadata("nope", meta);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().type, ErrorType::not_found);
}

TEST(SqliteStore, ListSessions) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store);
  auto empty = store->list_sessions();
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(store->open_session(id, {}).has_value());
  ASSERT_TRUE(store->append_entry("b", message("user", "x")).has_value());
  ASSERT_TRUE(store->append_entry("b", message("assistant", "y")).has_value());
  auto list = store->list_sessions();
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  std::map<std::string, std::int64_t> counts;
  for (const auto& s : *list) counts[s.id] = s.entry_count;
  EXPECT_EQ(counts, (std::map<std::string, std::int64_t>{{"a", 0}, {"b", 2}, {"c", 0}}));
}

TEST(SqliteStore, DeleteCascadesEntries) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->open_session("s", {}).has_value());
  ASSERT_TRUE(store->append_entry("s", message("user", "x")).has_value());
  ASSERT_TRUE(store->append_entry("s", message("user", "y")).has_value());

  auto deleted = store->delete_session("s");
  ASSERT_TRUE(deleted.has_value());
  EXPECT_TRUE(*deleted);
  auto again = store->delete_session("s");
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_FALSE(store->get_session("s")->has_value());
  EXPECT_TRUE(store->entries("s")->empty());

  // No orphan rows are left behind, and a recreated session starts again at seq 1.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM entries", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  ASSERT_TRUE(store->open_session("s", {}).has_value());
  EXPECT_EQ(store->append_entry("s", message("user", "z")).value(), 1);
}

TEST(SqliteStore, SecondInstanceSeesCommittedEntries) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto first = open_or_die(path);
  auto second = open_or_die(path);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->open_session("s", {}).has_value());
  ASSERT_TRUE(first->append_entry("s", message("user", "one")).has_value());

  auto seen = second->entries("s");
  ASSERT_TRUE(seen.has_value()) << seen.error().message;
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].content.at("content"), "one");

  // Both connections append to the same session: numbering continues across them.
  EXPECT_EQ(second->append_entry("s", message("assistant", "two")).value(), 2);
  EXPECT_EQ(first->append_entry("s", message("user", "three")).value(), 3);
  EXPECT_EQ(first->entries("s")->size(), 3u);
  EXPECT_EQ((*second->get_session("s"))->entry_count, 3);
}

TEST(SqliteStore, ConcurrentAppendsKeepContiguousSeqs) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  auto other = open_or_die(path);  // a second connection, as another process would have
  ASSERT_TRUE(store && other);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 50;
  for (const char* id : {"shared", "t0", "t1", "t2"}) {
    ASSERT_TRUE(store->open_session(id, {}).has_value());
  }
  std::atomic<int> failures{0};
  std::vector<std::vector<std::int64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 ? *other : *store;
      for (int i = 0; i < kPerThread; ++i) {
        auto seq =
            s.append_entry("shared", message("user", std::to_string(t) + ":" + std::to_string(i)));
        if (!seq) {
          ++failures;
          continue;
        }
        seqs[t].push_back(*seq);
        if (t < 3 && !s.append_entry("t" + std::to_string(t), message("user", "own"))) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  std::vector<std::int64_t> all;
  for (const auto& v : seqs) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // each thread sees its own order
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<std::int64_t>(i + 1));

  auto entries = store->entries("shared");
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), all.size());
  for (std::size_t i = 0; i < entries->size(); ++i) {
    EXPECT_EQ((*entries)[i].seq, static_cast<std::int64_t>(i + 1));
  }
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(store->entries("t" + std::to_string(t))->size(),
              static_cast<std::size_t>(kPerThread));
  }
}

TEST(SqliteStore, GarbageFileIsAClearError) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  write_file(path,
             std::string("this is not a database, just some text\n") + std::string(4096, 'z'));
  auto r = open_sqlite_store(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::store_error);
  EXPECT_NE(r.error().message.find(path.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("not a SQLite database"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().details.at("path"), json(path.string()));
}

TEST(SqliteStore, UnopenablePathIsAnError) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "state.db");  // a directory, not a file
  auto r = open_sqlite_store(dir.path() / "state.db");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::store_error);
  EXPECT_NE(r.error().message.find((dir.path() / "state.db").string()), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace cppflue
