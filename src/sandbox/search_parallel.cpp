// SPDX-License-Identifier: Apache-2.0
// Searching many files for grep: files are searched on up to kMaxSearchThreads threads and the
// results merged in path order, so the output is exactly what one thread searching the files
// one after the other would give.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <iterator>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

std::size_t saturating_add1(std::size_t n) {
  return n == std::numeric_limits<std::size_t>::max() ? n : n + 1;
}

// Adds one file's result to `out` as the sequential search would have: `max` caps the lines.
// Returns false when the cap was reached (out.truncated is then set).
bool merge_result(FileResult& r, std::size_t max, GrepResult& out) {
  switch (r.kind) {
    case FileResult::Kind::unread:
      return true;
    case FileResult::Kind::too_large:
      ++out.files_too_large;
      return true;
    case FileResult::Kind::binary:
      ++out.files_binary;
      return true;
    case FileResult::Kind::searched:
      break;
  }
  ++out.files_searched;
  const std::size_t room = max - out.lines.size();
  const bool capped = r.lines.size() > room;
  const std::size_t take = capped ? room : r.lines.size();
  out.lines_skipped += capped ? r.skipped_before_line(room) : r.lines_skipped;
  std::move(r.lines.begin(), r.lines.begin() + static_cast<std::ptrdiff_t>(take),
            std::back_inserter(out.lines));
  if (capped) out.truncated = true;
  return !capped;
}

// A worker thread is started each time this many walked files wait to be searched (up to the
// thread count), so a small tree is searched by the calling thread alone once it is walked.
constexpr std::size_t kFilesPerNewThread = 16;

std::size_t search_threads() {
  std::size_t hw = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(hw, 1, kMaxSearchThreads);
}

// Searches the files the walk hands over (in sorted path order) and merges the results into
// `out` in that order. With one thread a file is searched as soon as it is added. Otherwise
// files are queued and claimed in order by worker threads (started as files pile up) and by the
// calling thread once the walk is over; a finished file is merged as soon as every file before it
// is, and nothing new is started once the cap is reached. `out` is therefore exactly what the
// sequential search gives: the counters cover the files up to the one where the cap was reached.
class SearchRun {
 public:
  SearchRun(const Workspace& ws, const Pattern& pat, const GrepOptions& opt, Budget& budget,
            GrepResult& out)
      : ws_(ws), pat_(pat), opt_(opt), budget_(budget), out_(out), threads_(search_threads()) {}
  SearchRun(const SearchRun&) = delete;
  SearchRun& operator=(const SearchRun&) = delete;
  ~SearchRun() { shutdown(); }

  // Adds the next file (in path order). Returns false once no more files are wanted.
  bool add(std::string rel) {
    if (threads_ <= 1) {
      if (budget_.exhausted(tick_)) return false;
      if (!inline_) inline_.emplace(ws_, pat_, opt_, budget_);
      FileResult r;
      inline_->run(rel, saturating_add1(opt_.max_matches - out_.lines.size()), r);
      return merge_result(r, opt_.max_matches, out_);
    }
    bool spawn = false;
    if (budget_.exhausted(tick_)) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
      slots_.emplace_back().path = std::move(rel);
      spawn = pool_.size() + 1 < threads_ &&
              slots_.size() - next_ >= kFilesPerNewThread * (pool_.size() + 1);
    }
    work_cv_.notify_one();
    if (spawn) {
      try {
        pool_.emplace_back([this] { work(); });
      } catch (const std::system_error&) {
        threads_ = pool_.size() + 1;  // no more threads: go on with those there are
      }
    }
    return true;
  }

  // The walk is over: helps the workers until every file is merged (or the cap is reached).
  void finish() {
    if (threads_ <= 1) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      walk_done_ = true;
    }
    work_cv_.notify_all();
    work();
    shutdown();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Slot {
    std::string path;
    FileResult result;
    bool done = false;
  };

  void work() {
    try {
      FileSearcher searcher(ws_, pat_, opt_, budget_);
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        work_cv_.wait(lock, [&] { return stop_ || next_ < slots_.size() || walk_done_; });
        if (stop_ || next_ >= slots_.size()) return;
        Slot& slot = slots_[next_++];
        const std::size_t limit = saturating_add1(opt_.max_matches - out_.lines.size());
        lock.unlock();
        FileResult r;
        searcher.run(slot.path, limit, r);
        lock.lock();
        slot.result = std::move(r);
        slot.done = true;
        while (merged_ < slots_.size() && slots_[merged_].done && !stop_) {
          Slot& s = slots_[merged_++];
          bool more = merge_result(s.result, opt_.max_matches, out_);
          s.result = FileResult{};
          s.path = std::string();
          if (!more) stop_ = true;
        }
        if (stop_) work_cv_.notify_all();
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        stop_ = true;
      }
      work_cv_.notify_all();
    }
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!walk_done_) stop_ = true;  // abandoned (an exception in the walk): stop the workers
      walk_done_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : pool_) t.join();
    pool_.clear();
  }

  const Workspace& ws_;
  const Pattern& pat_;
  const GrepOptions& opt_;
  Budget& budget_;
  unsigned tick_ = 0;  // the calling thread's counter for budget checks
  GrepResult& out_;    // guarded by mu_ while workers run
  std::size_t threads_;
  std::optional<FileSearcher> inline_;  // the searcher of the one-thread mode
  std::vector<std::thread> pool_;       // touched by the calling thread only

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Slot> slots_;  // every added file; references stay valid while it grows
  std::size_t next_ = 0;    // first slot not claimed yet
  std::size_t merged_ = 0;  // first slot not merged yet
  bool walk_done_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace

void search_files(const Workspace& ws, const Pattern& pat, const GrepOptions& opt, Budget& budget,
                  GrepResult& out, const FileFeed& feed) {
  SearchRun run(ws, pat, opt, budget, out);
  const AddFile add = [&run](std::string&& rel) { return run.add(std::move(rel)); };
  feed(add);
  run.finish();
}

}  // namespace cppflue::search_detail
