// SPDX-License-Identifier: Apache-2.0
// The SQLite store's connection (sqlite_store_impl.hpp) and `open_sqlite_store`, which composes
// the three aggregate stores over one connection.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <system_error>

#include "cppflue/store/store.hpp"
#include "store/composed_store.hpp"
#include "store/sqlite_store_impl.hpp"

namespace cppflue {
namespace sqlite {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;

bool is_not_a_database(int rc) {
  return (rc & 0xff) == SQLITE_NOTADB;
}

}  // namespace

Result<std::shared_ptr<Connection>> Connection::open(const fs::path& path) {
  std::shared_ptr<Connection> c(new Connection(path));
  if (auto r = c->create_files(); !r) return fail(std::move(r.error()));
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(c->path_text_.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  c->db_.reset(raw);  // closed by the handle even when opening failed
  if (rc != SQLITE_OK) return fail(c->error("open", rc));
  sqlite3_extended_result_codes(raw, 1);

  if (auto r = c->configure(); !r) return fail(std::move(r.error()));
  if (auto r = migrate(*c); !r) return fail(std::move(r.error()));
  return c;
}

Result<void> Connection::create_files() {
  const std::string& text = path_text_;
  if (text == ":memory:" || !path_.has_parent_path()) return {};
  std::error_code ec;
  bool created = !fs::exists(path_.parent_path(), ec);
  fs::create_directories(path_.parent_path(), ec);
  if (ec) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: cannot create directory {}: {}", text,
                            path_.parent_path().string(), ec.message()),
                json_object{{"path", text}, {"operation", "create directory"}});
  }
  // The history is private: a new state folder is 0700, the database 0600 (SQLite gives its
  // -wal and -shm files the database's permissions).
  if (created) ::chmod(path_.parent_path().c_str(), 0700);
  int fd = ::open(text.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
        (st.st_mode & 077) != 0) {
      ::fchmod(fd, st.st_mode & 0700);
    }
    ::close(fd);
  }
  return {};
}

Result<void> Connection::configure() {
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  // The first statement that reads the file is where a non-database is detected; say so plainly
  // rather than surfacing a bare "file is not a database" from some later query.
  auto wal = prepare("PRAGMA journal_mode=WAL", 0);
  int rc = SQLITE_OK;
  if (wal) {
    StmtUse q(wal->get());
    rc = q.step();
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
  } else {
    rc = sqlite3_extended_errcode(db_.get());
  }
  if (rc != SQLITE_OK) {
    if (is_not_a_database(rc)) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: the file is not a SQLite database", path_text_),
                  json_object{{"path", path_text_},
                              {"operation", "open"},
                              {"sqlite_code", rc},
                              {"sqlite_message", sqlite3_errstr(rc)}});
    }
    if (!wal) return fail(std::move(wal.error()));
    return fail(error("enable WAL", rc));
  }
  return exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", "configure connection");
}

Error Connection::error(std::string_view operation, int rc) const {
  const char* message = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  int code = db_ ? sqlite3_extended_errcode(db_.get()) : rc;
  return make_error(ErrorType::store_error,
                    fmt::format("store {}: {}: {}", path_text_, operation, message),
                    json_object{{"path", path_text_},
                                {"operation", operation},
                                {"sqlite_code", code},
                                {"sqlite_message", message}});
}

Result<void> Connection::exec(const char* sql, std::string_view operation) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message);
  sqlite3_free(message);  // the same text is available from sqlite3_errmsg
  if (rc != SQLITE_OK) return fail(error(operation, rc));
  return {};
}

Result<Stmt> Connection::prepare(const std::string& sql, unsigned flags) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size() + 1), flags, &raw,
                              nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return fail(error("prepare statement", rc));
  return stmt;
}

Result<sqlite3_stmt*> LazyStmt::get(Connection& c) {
  if (!stmt_) {
    auto prepared = c.prepare(sql_, SQLITE_PREPARE_PERSISTENT);
    if (!prepared) return fail(std::move(prepared.error()));
    stmt_ = std::move(*prepared);
  }
  return stmt_.get();
}

Result<void> prepare_now(Connection& c, std::initializer_list<LazyStmt*> stmts) {
  for (LazyStmt* s : stmts) {
    if (auto r = s->get(c); !r) return fail(std::move(r.error()));
  }
  return {};
}

Result<void> Connection::prepare_all(const std::vector<StatementSpec>& specs) {
  for (const auto& spec : specs) {
    spec.target->set_sql(spec.sql);
#ifndef NDEBUG
    if (auto r = spec.target->get(*this); !r) return fail(std::move(r.error()));
#endif
  }
  return {};
}

Result<bool> Connection::run_update(LazyStmt& lazy, std::string_view operation,
                                    const std::function<void(StmtUse&)>& bind) {
  auto stmt = lazy.get(*this);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  bind(q);
  int rc = q.step();
  if (rc != SQLITE_DONE) return fail(error(operation, rc));
  return sqlite3_changes(db_.get()) > 0;
}

namespace {

Result<std::shared_ptr<Store>> open_store(const fs::path& path) {
  auto connection = Connection::open(path);
  if (!connection) return fail(std::move(connection.error()));
  auto sessions = SqliteSessionStore::create(*connection);
  if (!sessions) return fail(std::move(sessions.error()));
  auto runs = SqliteRunStore::create(*connection);
  if (!runs) return fail(std::move(runs.error()));
  auto dispatch = SqliteDispatchStore::create(*connection);
  if (!dispatch) return fail(std::move(dispatch.error()));
  return store_detail::compose_store(std::move(*sessions), std::move(*runs), std::move(*dispatch));
}

}  // namespace
}  // namespace sqlite

Result<std::shared_ptr<Store>> open_sqlite_store(const std::filesystem::path& path) {
  try {
    return sqlite::open_store(path);
  } catch (const std::exception& e) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: cannot open: {}", path.string(), e.what()),
                json_object{{"path", path.string()}});
  }
}

}  // namespace cppflue
