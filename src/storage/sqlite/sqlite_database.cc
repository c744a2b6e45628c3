// SQLite engine: one writer connection serialised by a mutex and a small
// pool of reader connections, all on one WAL-mode file.
#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/thread_name.h"
#include "storage/sql.h"
#include "storage/sqlite/wal_vfs.h"

namespace vigie::sql {
namespace {

// Translates $N placeholders to SQLite's ?N outside string literals.
std::string TranslatePlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  bool in_str = false;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'') in_str = !in_str;
    if (!in_str && c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out.push_back('?');
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// SQLite keeps memory statistics under a process-wide mutex, taken on
// every allocation (several per row the writer inserts); vigie reads none
// of them. They can be turned off only before SQLite initialises (the
// first open, or the WAL VFS's registration); a later call is refused,
// harmlessly.
void TurnOffMemoryStatistics() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

class Connection : public Tx {
 public:
  Connection(const std::string& path, bool readonly, const std::string& synchronous) {
    TurnOffMemoryStatistics();
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (path.starts_with("file:")) flags |= SQLITE_OPEN_URI;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, WalCoalescingVfs()) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw DbError("sqlite open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    sqlite3_extended_result_codes(db_, 1);
    if (!readonly) {
      Exec("PRAGMA journal_mode=WAL");
      Exec("PRAGMA synchronous=" + synchronous);
      // Each write's savepoint keeps the originals of the pages it changes
      // in a sub-journal; a temporary file would cost the serial writer a
      // pwrite per page (5% of the server's CPU in the fanout benchmark).
      Exec("PRAGMA temp_store=MEMORY");
    }
    Exec("PRAGMA foreign_keys=ON");
  }
  ~Connection() override {
    for (auto& [_, st] : stmts_) sqlite3_finalize(st);
    sqlite3_close(db_);
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  // Calls hook(pages in the WAL) after each commit, instead of SQLite's own
  // checkpoint in the committing thread.
  void OnCommit(int (*hook)(void*, sqlite3*, const char*, int), void* arg) {
    sqlite3_wal_hook(db_, hook, arg);
  }

  // Copies what it can of the WAL into the database without waiting for
  // readers or the writer (SQLITE_CHECKPOINT_PASSIVE).
  void Checkpoint() {
    int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      throw DbError("sqlite checkpoint: " + std::string(sqlite3_errmsg(db_)));
    }
  }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw DbError("sqlite: " + msg);
    }
  }

  Result Query(std::string_view sql, const std::vector<Value>& params) override {
    sqlite3_stmt* st = Prepare(sql);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (std::size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      const Value& v = params[i];
      int rc = SQLITE_OK;
      if (auto p = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(st, idx, *p);
      } else if (auto p = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(st, idx, *p);
      } else if (auto p = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(st, idx, p->data(), p->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(st, idx);
      }
      if (rc != SQLITE_OK) throw DbError("sqlite bind: " + std::string(sqlite3_errmsg(db_)));
    }
    Result result;
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        // Read per row: a statement re-prepared after a schema change may
        // have a different shape than when it was cached.
        const int ncol = sqlite3_column_count(st);
        std::vector<Value> cols;
        cols.reserve(ncol);
        for (int c = 0; c < ncol; ++c) {
          switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
              cols.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(st, c)));
              break;
            case SQLITE_FLOAT:
              cols.emplace_back(sqlite3_column_double(st, c));
              break;
            case SQLITE_NULL:
              cols.emplace_back(std::monostate{});
              break;
            default: {
              const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
              cols.emplace_back(std::string(text, sqlite3_column_bytes(st, c)));
            }
          }
        }
        result.rows.emplace_back(std::move(cols));
      } else if (rc == SQLITE_DONE) {
        break;
      } else {
        std::string msg = sqlite3_errmsg(db_);
        sqlite3_reset(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT &&
            (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)) {
          throw UniqueViolation("sqlite: " + msg);
        }
        throw DbError("sqlite: " + msg);
      }
    }
    result.affected = sqlite3_changes64(db_);
    sqlite3_reset(st);
    return result;
  }

 private:
  sqlite3_stmt* Prepare(std::string_view sql) {
    auto it = stmts_.find(std::string(sql));
    if (it != stmts_.end()) return it->second;
    std::string translated = TranslatePlaceholders(sql);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, translated.c_str(), static_cast<int>(translated.size()),
                           SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
      throw DbError("sqlite prepare: " + std::string(sqlite3_errmsg(db_)) + " in: " + translated);
    }
    stmts_.emplace(std::string(sql), st);
    return st;
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

// WAL pages (of 4 KiB) past which a commit asks for a checkpoint: SQLite's
// own default.
constexpr int kCheckpointPages = 1000;

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(const SqliteOptions& opts) : opts_(opts) {
    const std::string& path = opts.path;
    memory_ = path == ":memory:";
    writer_ = std::make_unique<Connection>(path, false, opts.synchronous);
    // An in-memory database has one connection: reads go through the writer.
    for (int i = 0; i < (memory_ ? 0 : std::max(1, opts.readers)); ++i) {
      readers_.push_back(std::make_unique<Connection>(path, true, opts.synchronous));
      free_readers_.push_back(readers_.back().get());
    }
    if (!memory_) {
      // Checkpoints copy the WAL into the database file and fsync it: in
      // the committing thread (SQLite's default) they would stall the one
      // writer every 4 MiB of WAL. A checkpointer thread with its own
      // connection does them, passively, beside the writer.
      checkpointer_conn_ = std::make_unique<Connection>(path, false, opts.synchronous);
      writer_->OnCommit(&SqliteDatabase::WalHook, this);
      checkpointer_ = std::thread([this] {
        NameThisThread("sqlite-ckpt");
        RunCheckpointer();
      });
    }
  }

  ~SqliteDatabase() override {
    if (!checkpointer_.joinable()) return;
    {
      std::lock_guard lock(checkpoint_mu_);
      stop_ = true;
    }
    checkpoint_cv_.notify_one();
    pass_done_cv_.notify_all();
    checkpointer_.join();
  }

  std::uint64_t Checkpoints() {
    std::lock_guard lock(checkpoint_mu_);
    return checkpoints_;
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  void ExecScript(std::string_view sql) override {
    std::lock_guard lock(write_mu_);
    writer_->Exec(std::string(sql));
  }

 protected:
  void RunWrite(const std::function<void(Tx&)>& fn) override {
    std::lock_guard lock(write_mu_);
    // BEGIN and COMMIT run as cached statements: sqlite3_exec would parse
    // them again for every transaction (2% of server CPU in fanout).
    writer_->Query("BEGIN IMMEDIATE", {});
    try {
      fn(*writer_);
      writer_->Query("COMMIT", {});
    } catch (...) {
      try {
        writer_->Exec("ROLLBACK");
      } catch (...) {
      }
      throw;
    }
  }

  void RunRead(const std::function<void(Tx&)>& fn) override {
    if (memory_) {
      RunWrite(fn);
      return;
    }
    Connection* conn = nullptr;
    {
      std::unique_lock lock(pool_mu_);
      pool_cv_.wait(lock, [&] { return !free_readers_.empty(); });
      conn = free_readers_.back();
      free_readers_.pop_back();
    }
    struct Return {
      SqliteDatabase* self;
      Connection* conn;
      ~Return() {
        {
          std::lock_guard lock(self->pool_mu_);
          self->free_readers_.push_back(conn);
        }
        self->pool_cv_.notify_one();
      }
    } ret{this, conn};
    conn->Query("BEGIN", {});
    try {
      fn(*conn);
      conn->Query("COMMIT", {});
    } catch (...) {
      try {
        conn->Exec("ROLLBACK");
      } catch (...) {
      }
      throw;
    }
  }

 private:
  // After each commit of the writer, which it holds.
  static int WalHook(void* self, sqlite3*, const char*, int pages) {
    static_cast<SqliteDatabase*>(self)->AfterCommit(pages);
    return SQLITE_OK;
  }

  void AfterCommit(int pages) {
    if (pages < kCheckpointPages) return;
    {
      std::unique_lock lock(checkpoint_mu_);
      if (pages < 2 * kCheckpointPages) {
        if (!running_ && !wanted_) {
          wanted_ = true;
          checkpoint_cv_.notify_one();
        }
        return;
      }
      if (running_ || wanted_) {
        if (pages < 4 * kCheckpointPages) return;
        // Four times the mark with a pass still to end: the checkpointer is
        // slower than the writer (starved of CPU on a busy machine, where
        // the WAL reached 28 MB). The writer waits for the pass and then
        // copies the rest itself, so the WAL stays bounded.
        pass_done_cv_.wait(lock, [&] { return stop_ || (!running_ && !wanted_); });
      }
    }
    // SQLite starts the WAL over only when a write begins with all of it
    // checkpointed, and the writer keeps adding while the checkpointer
    // copies. So past twice the mark, with the checkpointer between
    // passes, the writer copies the little it added since the last pass
    // itself, and its next write starts the WAL over.
    try {
      writer_->Checkpoint();
    } catch (const DbError&) {
    }
  }

  void RunCheckpointer() {
    std::unique_lock lock(checkpoint_mu_);
    for (;;) {
      checkpoint_cv_.wait(lock, [&] { return stop_ || wanted_; });
      if (stop_) return;
      wanted_ = false;
      running_ = true;
      lock.unlock();
      try {
        checkpointer_conn_->Checkpoint();
      } catch (const DbError&) {
        // The next commit past the mark asks again; the WAL only grows
        // meanwhile.
      }
      lock.lock();
      running_ = false;
      ++checkpoints_;
      pass_done_cv_.notify_all();
    }
  }

  SqliteOptions opts_;
  bool memory_ = false;
  std::mutex write_mu_;
  std::unique_ptr<Connection> writer_;  // guarded by write_mu_
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> free_readers_;          // guarded by pool_mu_
  std::unique_ptr<Connection> checkpointer_conn_;  // used by checkpointer_ only
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  std::condition_variable pass_done_cv_;  // a checkpointer pass ended
  bool wanted_ = false;                   // guarded by checkpoint_mu_
  bool running_ = false;                  // guarded by checkpoint_mu_
  bool stop_ = false;                     // guarded by checkpoint_mu_
  std::uint64_t checkpoints_ = 0;         // guarded by checkpoint_mu_
  std::thread checkpointer_;
};

}  // namespace

std::unique_ptr<Database> OpenSqlite(const SqliteOptions& opts) {
  return std::make_unique<SqliteDatabase>(opts);
}

std::uint64_t SqliteCheckpoints(Database& db) {
  auto* sqlite = dynamic_cast<SqliteDatabase*>(&db);
  return sqlite ? sqlite->Checkpoints() : 0;
}

}  // namespace vigie::sql
