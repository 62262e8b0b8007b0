// SPDX-License-Identifier: Apache-2.0
// Who runs a run: the store object (in its process) that created it, recorded with the run so
// that a run left `running` by a process that has since ended (crashed, killed, stopped) can be
// told from one still under way (see RunStore::end_interrupted_runs).
//
// Each store object that creates runs holds an open-file-description lock on a file of its own,
// `<database>-owners/<nonce>`; the kernel releases it when the process ends, however it ends.
// Whether an owner still runs is whether its lock is still held: this holds across PID
// namespaces (a server restarted in a container, a CLI beside it) and cannot be fooled by a
// reused pid, unlike anything read from /proc.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace cppflue::store_detail {

enum class OwnerState {
  alive,    // its lock is held
  ended,    // its lock is free: the process has ended
  unknown,  // cannot be told: no lock file (another host, or removed), an unreadable owner
};

class RunOwner {
 public:
  // For a database at `database` (":memory:" or a path without a folder: no lock, and runs
  // whose owner can never be checked).
  explicit RunOwner(const std::filesystem::path& database);
  ~RunOwner();
  RunOwner(const RunOwner&) = delete;
  RunOwner& operator=(const RunOwner&) = delete;

  // "v2 HOST PID NONCE", recorded with each run created; the lock is taken at the first call.
  // NONCE is "-" when no lock could be taken (then nobody else can tell whether it runs).
  const std::string& text();
  // Whether `owner` is this object's text() (without taking the lock when it has none yet).
  bool is(std::string_view owner) const { return !text_.empty() && owner == text_; }
  // Whether the process of `owner` (another store object's text()) still runs.
  OwnerState state_of(std::string_view owner) const;
  // Removes the lock files of owners that have ended, but not those named in `keep` (the owners
  // of runs still running: once its file is gone, nobody can tell that an owner has ended).
  void sweep(const std::set<std::string>& keep) const;

 private:
  std::filesystem::path dir_;  // empty: no locks
  std::string text_;
  int fd_ = -1;
};

// "pid 123 on HOST" for messages; "" when `owner` is not readable.
std::string describe_owner(std::string_view owner);
// The nonce of `owner` (its lock file's name), or "".
std::string owner_nonce(std::string_view owner);

}  // namespace cppflue::store_detail
