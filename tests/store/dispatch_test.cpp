// SPDX-License-Identifier: Apache-2.0
// The durable dispatch queue of the SQLite store: acceptance order, one lease per session,
// idempotency keys, lease expiry, release at start-up, concurrent leasers, bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using cppflue::testing::TempDir;
using namespace std::chrono_literals;

std::shared_ptr<Store> open_or_die(const std::filesystem::path& path) {
  auto r = open_sqlite_store(path);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

DispatchItem item(std::string id, std::string session, json input = "hi", std::string key = "") {
  DispatchItem d;
  d.id = std::move(id);
  d.agent = "assistant";
  d.instance_id = "inst";
  d.session = std::move(session);
  d.input = std::move(input);
  d.idempotency_key = std::move(key);
  return d;
}

std::string fmt_id(int session, int n) {
  return "d" + std::to_string(session) + "_" + std::to_string(n);
}

TEST(SqliteDispatch, EnqueueStoresThePendingItem) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  auto d = item("d1", "inst:a", json_object{{"text", "x"}});
  d.context = json_object{{"platform", "github"}, {"thread", "7"}};
  auto stored = store->enqueue_dispatch(d);
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  EXPECT_EQ(stored->state, "pending");
  EXPECT_EQ(stored->attempts, 0);
  EXPECT_EQ(stored->entries_before, -1);
  EXPECT_EQ(stored->input, (json_object{{"text", "x"}}));
  EXPECT_EQ(stored->context.at("thread"), "7");
  EXPECT_FALSE(stored->accepted_at.empty());
  EXPECT_FALSE(stored->duplicate);
  auto again = store->get_dispatch("d1");
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->seq, stored->seq);
  EXPECT_FALSE(store->get_dispatch("nope")->has_value());
}

TEST(SqliteDispatch, BadItemsAreRefused) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  for (auto d : {item("", "s"), item("x", "")}) {
    auto r = store->enqueue_dispatch(d);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  }
  ASSERT_TRUE(store->enqueue_dispatch(item("same", "s")).has_value());
  auto dup = store->enqueue_dispatch(item("same", "s"));
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().type, ErrorType::store_error);
  EXPECT_FALSE(store->finish_dispatch("same", "maybe", nullptr).has_value());
  EXPECT_EQ(store->finish_dispatch("ghost", "done", nullptr).error().type, ErrorType::not_found);
  EXPECT_EQ(store->begin_dispatch_attempt("ghost", 0).error().type, ErrorType::not_found);
}

TEST(SqliteDispatch, IdempotencyKeyReturnsTheOriginal) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  auto first = store->enqueue_dispatch(item("d1", "inst:a", "one", "key-1"));
  ASSERT_TRUE(first.has_value());
  auto second = store->enqueue_dispatch(item("d2", "inst:a", "two", "key-1"));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->id, "d1");
  EXPECT_EQ(second->input, "one");
  EXPECT_FALSE(store->get_dispatch("d2")->has_value());  // nothing stored
  // The key is scoped to (agent, instance).
  auto other = item("d3", "inst2:a", "three", "key-1");
  other.instance_id = "inst2";
  auto third = store->enqueue_dispatch(other);
  ASSERT_TRUE(third.has_value());
  EXPECT_FALSE(third->duplicate);
  EXPECT_EQ(store->dispatch_counts()->at("pending"), 2);
}

TEST(SqliteDispatch, LeasesOneItemPerSessionInOrder) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store->enqueue_dispatch(item("a1", "s:a")).has_value());
  ASSERT_TRUE(store->enqueue_dispatch(item("b1", "s:b")).has_value());
  ASSERT_TRUE(store->enqueue_dispatch(item("a2", "s:a")).has_value());

  auto l1 = store->lease_dispatch(60s);
  ASSERT_TRUE(l1 && *l1);
  EXPECT_EQ((*l1)->id, "a1");
  EXPECT_EQ((*l1)->state, "leased");
  EXPECT_EQ((*l1)->attempts, 1);
  auto l2 = store->lease_dispatch(60s);
  ASSERT_TRUE(l2 && *l2);
  EXPECT_EQ((*l2)->id, "b1");  // a2 waits for a1
  auto none = store->lease_dispatch(60s);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(store->begin_dispatch_attempt("a1", 4).has_value());
  EXPECT_EQ((*store->get_dispatch("a1"))->entries_before, 4);
  ASSERT_TRUE(store->finish_dispatch("a1", "done", nullptr).has_value());
  auto l3 = store->lease_dispatch(60s);
  ASSERT_TRUE(l3 && *l3);
  EXPECT_EQ((*l3)->id, "a2");
  ASSERT_TRUE(store
                  ->finish_dispatch("a2", "failed",
                                    json_object{{"type", "provider_error"}, {"message", "x"}})
                  .has_value());
  auto failed = *store->get_dispatch("a2");
  EXPECT_EQ(failed->state, "failed");
  EXPECT_EQ(failed->error.at("type"), "provider_error");
  EXPECT_FALSE(failed->finished_at.empty());
  auto counts = *store->dispatch_counts();
  EXPECT_EQ(counts["done"], 1);
  EXPECT_EQ(counts["failed"], 1);
  EXPECT_EQ(counts["leased"], 1);
}

TEST(SqliteDispatch, ExpiredLeasesAreTakenAgainAndRenewalKeepsThem) {
  TempDir dir;
  auto store = open_or_die(dir.path() / "state.db");
  ASSERT_TRUE(store->enqueue_dispatch(item("a1", "s:a")).has_value());
  ASSERT_TRUE(store->enqueue_dispatch(item("a2", "s:a")).has_value());
  auto l1 = store->lease_dispatch(50ms);
  ASSERT_TRUE(l1 && *l1);
  EXPECT_TRUE(*store->renew_dispatch("a1", 300ms));
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(store->lease_dispatch(60s)->has_value());  // renewed: still held
  std::this_thread::sleep_for(300ms);
  auto again = store->lease_dispatch(60s);
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->id, "a1");  // the expired one, not a2
  EXPECT_EQ((*again)->attempts, 2);
  ASSERT_TRUE(store->finish_dispatch("a1", "done", nullptr).has_value());
  EXPECT_FALSE(*store->renew_dispatch("a1", 60s));  // no longer leased
}

TEST(SqliteDispatch, ReleaseAtStartupAndReopenKeepsEverything) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  {
    auto store = open_or_die(path);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->enqueue_dispatch(item("d" + std::to_string(i), "s:" + std::to_string(i)))
                      .has_value());
    }
    ASSERT_TRUE(store->lease_dispatch(std::chrono::hours(1))->has_value());
    ASSERT_TRUE(store->lease_dispatch(std::chrono::hours(1))->has_value());
  }
  auto store = open_or_die(path);
  EXPECT_EQ(store->dispatch_counts()->at("leased"), 2);
  EXPECT_EQ(*store->release_dispatch_leases(), 2);
  EXPECT_EQ(store->dispatch_counts()->at("pending"), 3);
  std::set<std::string> ids;
  while (auto l = *store->lease_dispatch(60s)) ids.insert(l->id);
  EXPECT_EQ(ids, (std::set<std::string>{"d0", "d1", "d2"}));
}

TEST(SqliteDispatch, ConcurrentLeasersNeverShareASession) {
  TempDir dir;
  auto path = dir.path() / "state.db";
  auto store = open_or_die(path);
  constexpr int kSessions = 8;
  constexpr int kPerSession = 25;
  for (int n = 0; n < kPerSession; ++n) {
    for (int s = 0; s < kSessions; ++s) {
      ASSERT_TRUE(store
                      ->enqueue_dispatch(item(fmt_id(s, n), "s:" + std::to_string(s),
                                              json(static_cast<std::int64_t>(n))))
                      .has_value());
    }
  }
  // Two stores (two connections, as two processes would have) and four threads.
  auto other = open_or_die(path);
  std::mutex mu;
  std::map<std::string, std::vector<std::int64_t>> order;
  std::set<std::string> active;
  std::atomic<bool> overlap{false};
  auto worker = [&](Store* st) {
    for (;;) {
      auto l = st->lease_dispatch(60s);
      ASSERT_TRUE(l.has_value()) << l.error().message;
      if (!*l) {
        std::lock_guard lock(mu);
        std::size_t total = 0;
        for (auto& [k, v] : order) total += v.size();
        if (total == kSessions * kPerSession) return;
        continue;
      }
      const auto& d = **l;
      {
        std::lock_guard lock(mu);
        if (!active.insert(d.session).second) overlap = true;
        order[d.session].push_back(d.input.as_int64());
      }
      std::this_thread::yield();
      {
        std::lock_guard lock(mu);
        active.erase(d.session);
      }
      ASSERT_TRUE(st->finish_dispatch(d.id, "done", nullptr).has_value());
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(worker, i % 2 ? other.get() : store.get());
  for (auto& t : threads) t.join();
  EXPECT_FALSE(overlap.load());
  ASSERT_EQ(order.size(), static_cast<std::size_t>(kSessions));
  for (const auto& [session, inputs] : order) {
    ASSERT_EQ(inputs.size(), static_cast<std::size_t>(kPerSession)) << session;
    for (int n = 0; n < kPerSession; ++n) EXPECT_EQ(inputs[n], n) << session;
  }
}

}  // namespace
}  // namespace cppflue
