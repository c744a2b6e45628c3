// PostgreSQL engine: a pool of libpq connections, each caching its prepared
// statements by SQL text.
//
// Contracts that differ from what libpq alone would give, so that the engine
// behaves like the SQLite one behind `Tx`:
//  - Parameters are sent as text with no declared type, so the server infers
//    each one's type from its context (a BOOLEAN column accepts 0/1, a BIGINT
//    column accepts an int64). A parameter whose type cannot be inferred
//    (`SELECT $1 IS NULL`, or `$1 - 1` which infers int4) needs a
//    `CAST($1 AS BIGINT)`, which both engines understand.
//  - `affected` counts rows changed by INSERT/UPDATE/DELETE/MERGE only; it is
//    0 for every other statement (libpq would count SELECTed rows too).
//  - After a statement fails, the server refuses every later statement of the
//    transaction. A callback that swallows such an error and returns makes
//    Write/Read throw DbError (the transaction is rolled back), instead of
//    PostgreSQL's silent ROLLBACK-on-COMMIT.
//  - A connection found broken (server restart, terminated backend) is
//    dropped and reopened on next use; a transaction whose BEGIN hits a dead
//    connection is retried once on a fresh one.
//  - Fewer round trips: BEGIN goes out with the transaction's first
//    statement, and statements given to `Defer` (savepoints) with the next
//    statement or the COMMIT, in libpq's pipeline mode. A transaction that
//    runs no statement sends nothing.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/sql.h"

namespace vigie::sql {
namespace {

// Type OIDs from the server's pg_type catalogue (fixed since forever).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

constexpr std::string_view kUniqueViolationState = "23505";

// Past this many cached statements a connection drops them all, so that
// dynamically built SQL (IN lists of varying length) cannot grow the
// server-side cache without bound.
constexpr std::size_t kMaxPreparedStatements = 1000;

constexpr const char* kBeginWrite = "BEGIN";
constexpr const char* kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;

// The statement, on one line and cut short, for error messages.
std::string Abbreviate(std::string_view sql) {
  constexpr std::size_t kMax = 200;
  std::string out;
  bool space = false;
  for (char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
    if (out.size() >= kMax) {
      out += "...";
      break;
    }
  }
  return out;
}

std::string TrimmedMessage(const char* msg) {
  std::string out = msg ? msg : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out.empty() ? "unknown error" : out;
}

bool StartsWith(const char* s, std::string_view prefix) {
  return std::string_view(s).substr(0, prefix.size()) == prefix;
}

// Decimal int64 text as sent by the server for int2/int4/int8/oid.
std::int64_t ParseInt(const char* v, int len) {
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(v, v + len, out);
  if (ec != std::errc() || end != v + len) {
    throw DbError("postgres: cannot parse integer column value '" + std::string(v, len) + "'");
  }
  return out;
}

// float4/float8/numeric text: digits, or NaN / Infinity / -Infinity.
double ParseDouble(const char* v, int len) {
  double out = 0;
  auto [end, ec] = std::from_chars(v, v + len, out);
  if (ec == std::errc() && end == v + len) return out;
  // Out of double's range (a huge numeric): strtod saturates to +-inf or 0.
  return std::strtod(v, nullptr);
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  char buf[64];
  // Same digits as printf("%.17g"), without depending on the C locale.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::general, 17);
  if (ec != std::errc()) throw DbError("postgres: cannot format double parameter");
  std::string out(buf, end);
  if (out == "inf") return "Infinity";
  if (out == "-inf") return "-Infinity";
  return out;
}

Result ConvertResult(const PGresult* res) {
  Result result;
  const int nrows = PQntuples(res);
  const int ncols = PQnfields(res);
  std::vector<Oid> types(ncols);
  for (int c = 0; c < ncols; ++c) types[c] = PQftype(res, c);
  result.rows.reserve(nrows);
  for (int r = 0; r < nrows; ++r) {
    std::vector<Value> cols;
    cols.reserve(ncols);
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        cols.emplace_back(std::monostate{});
        continue;
      }
      const char* v = PQgetvalue(res, r, c);
      const int len = PQgetlength(res, r, c);
      switch (types[c]) {
        case kBoolOid:
          cols.emplace_back(std::int64_t{len > 0 && v[0] == 't' ? 1 : 0});
          break;
        case kInt2Oid:
        case kInt4Oid:
        case kInt8Oid:
        case kOidOid:
          cols.emplace_back(ParseInt(v, len));
          break;
        case kFloat4Oid:
        case kFloat8Oid:
        case kNumericOid:
          cols.emplace_back(ParseDouble(v, len));
          break;
        default:
          cols.emplace_back(std::string(v, len));
      }
    }
    result.rows.emplace_back(std::move(cols));
  }
  const char* status = PQcmdStatus(const_cast<PGresult*>(res));
  if (StartsWith(status, "INSERT") || StartsWith(status, "UPDATE") ||
      StartsWith(status, "DELETE") || StartsWith(status, "MERGE")) {
    const char* n = PQcmdTuples(const_cast<PGresult*>(res));
    std::from_chars(n, n + std::strlen(n), result.affected);
  }
  return result;
}

// One server connection; the Tx handed to callbacks. Used by one thread at
// a time (the pool hands it out exclusively).
class PgConnection : public Tx {
 public:
  PgConnection(std::string conninfo, std::uint64_t generation)
      : conninfo_(std::move(conninfo)), generation_(generation) {
    Connect();
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  Result Query(std::string_view sql, const std::vector<Value>& params) override {
    if (latest_ && deferred_.empty()) {
      // Each statement is a transaction of its own: one found dead (an idle
      // connection whose server went away) ran nothing, and is retried once
      // on a new connection.
      try {
        return Execute(sql, params);
      } catch (const DbError&) {
        if (std::exchange(retried_, true) || Usable()) throw;
      }
      Reconnect();
      return Execute(sql, params);
    }
    if (deferred_.empty()) return Execute(sql, params);
    deferred_.push_back({std::string(sql), params});
    ResultPtr res = SendDeferred();
    return ConvertResult(res.get());
  }

  void Defer(std::string_view sql, const std::vector<Value>& params) override {
    deferred_.push_back({std::string(sql), params});
  }

  void Flush() override {
    if (!deferred_.empty()) SendDeferred();
  }

  bool Defers() const override { return true; }
  std::uint64_t StatementFailures() const override { return failures_; }

  // Starts a transaction: its BEGIN goes out with the first statement.
  void DeferBegin(const char* begin) {
    deferred_.clear();
    deferred_.push_back({begin, {}});
    begin_deferred_ = true;
  }

  // Starts or ends a read of the latest data (Database::ReadLatest): no
  // BEGIN, so that each statement runs in a transaction of its own.
  void SetLatest(bool on) {
    deferred_.clear();
    begin_deferred_ = false;
    latest_ = on;
    retried_ = false;
  }

  // Commits what the transaction did, with any deferred statements, in one
  // round trip. A transaction that did nothing never began.
  void Commit() {
    if (begin_deferred_ && deferred_.size() == 1) {
      deferred_.clear();
      begin_deferred_ = false;
      return;
    }
    std::string tag;
    if (deferred_.empty()) {
      RequireNoFailedStatement();
      tag = Command("COMMIT");
    } else {
      deferred_.push_back({"COMMIT", {}});
      ResultPtr res = SendDeferred();
      tag = PQcmdStatus(res.get());
    }
    if (tag != "COMMIT") {
      throw DbError("postgres: transaction rolled back by the server at COMMIT (" + last_error_ +
                    ")");
    }
  }

  // Ends a read-only transaction without waiting for the server's answer:
  // the COMMIT goes out and its reply is read when the connection is next
  // leased (Absorb), by when it has long arrived. A read has nothing to
  // make durable and nothing the COMMIT could reject, so its caller need
  // not wait a round trip for it.
  void CommitRead() {
    if (!deferred_.empty()) {
      Commit();  // deferred statements are a write's; not expected here
      return;
    }
    RequireNoFailedStatement();
    if (PQsendQuery(conn_.get(), "COMMIT") != 1) {
      broken_ = true;
      throw DbError("postgres: COMMIT: " + TrimmedMessage(PQerrorMessage(conn_.get())));
    }
    commit_pending_ = true;
  }

  // Reads the reply of a COMMIT that CommitRead sent; a failure marks the
  // connection broken (the transaction read only: nothing is lost).
  void Absorb() noexcept {
    if (!std::exchange(commit_pending_, false)) return;
    bool ok = false;
    while (PGresult* r = PQgetResult(conn_.get())) {
      ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!ok || PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) broken_ = true;
  }

  // Before a COMMIT with nothing queued: if the callback caught a
  // statement's error and went on, PostgreSQL would turn the COMMIT into a
  // silent ROLLBACK.
  void RequireNoFailedStatement() const {
    if (InFailedTransaction()) {
      throw DbError("postgres: transaction rolled back: a statement in it failed (" + last_error_ +
                    ")");
    }
  }

  // Runs one or more statements with the simple protocol (no parameters).
  Result Exec(std::string_view sql) {
    ResultPtr res(PQexec(conn_.get(), std::string(sql).c_str()));
    return Finish(res.get(), sql);
  }

  // Runs BEGIN/COMMIT; returns the command tag ("COMMIT" or "ROLLBACK").
  std::string Command(const char* sql) {
    ResultPtr res(PQexec(conn_.get(), sql));
    Finish(res.get(), sql);
    return PQcmdStatus(res.get());
  }

  // Ends any open transaction; never throws. Marks the connection broken
  // if that fails, so that the pool drops it.
  void RollbackQuietly() noexcept {
    deferred_.clear();
    begin_deferred_ = false;
    if (commit_pending_) return;  // ended; Absorb reads the reply
    PGTransactionStatusType st = PQtransactionStatus(conn_.get());
    if (st == PQTRANS_IDLE) return;
    if (st != PQTRANS_INTRANS && st != PQTRANS_INERROR) {
      broken_ = true;
      return;
    }
    ResultPtr res(PQexec(conn_.get(), "ROLLBACK"));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) broken_ = true;
  }

  bool Usable() const { return !broken_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  bool Idle() const { return commit_pending_ || PQtransactionStatus(conn_.get()) == PQTRANS_IDLE; }
  bool InFailedTransaction() const { return PQtransactionStatus(conn_.get()) == PQTRANS_INERROR; }
  std::size_t cached_statements() const { return statements_.size(); }
  std::uint64_t generation() const { return generation_; }
  // Whether a statement changed the schema since the last call.
  bool TakeChangedSchema() { return std::exchange(changed_schema_, false); }

  // Forgets every prepared statement (after a schema change, or when the
  // cache is full). Must be called between transactions.
  void ClearStatements(std::uint64_t generation) {
    if (!statements_.empty()) Exec("DEALLOCATE ALL");
    statements_.clear();
    generation_ = generation;
  }

 private:
  // A statement's parameters as libpq takes them: NUL-terminated text, the
  // numbers formatted into `scratch` (reserved, so c_str() stays put).
  struct Params {
    Params(const std::vector<Value>& params, std::string_view sql)
        : values(params.size(), nullptr) {
      scratch.reserve(params.size());
      for (std::size_t i = 0; i < params.size(); ++i) {
        const Value& v = params[i];
        if (auto p = std::get_if<std::int64_t>(&v)) {
          values[i] = scratch.emplace_back(std::to_string(*p)).c_str();
        } else if (auto p = std::get_if<double>(&v)) {
          values[i] = scratch.emplace_back(FormatDouble(*p)).c_str();
        } else if (auto p = std::get_if<std::string>(&v)) {
          if (p->find('\0') != std::string::npos) {
            // libpq would silently cut the value at the NUL.
            throw DbError("postgres: text parameter $" + std::to_string(i + 1) +
                          " contains a NUL byte, in: " + Abbreviate(sql));
          }
          values[i] = p->c_str();
        }
      }
    }
    int size() const { return static_cast<int>(values.size()); }
    std::vector<std::string> scratch;
    std::vector<const char*> values;
  };

  // A statement waiting to go out with the next one.
  struct Deferred {
    std::string sql;
    std::vector<Value> params;
  };

  // Runs one statement, alone.
  Result Execute(std::string_view sql, const std::vector<Value>& params) {
    const std::string& name = Prepare(sql);
    Params p(params, sql);
    ResultPtr res(
        PQexecPrepared(conn_.get(), name.c_str(), p.size(), p.values.data(), nullptr, nullptr, 0));
    Result result = Finish(res.get(), sql);
    NoteSchemaChange(res.get());
    return result;
  }

  void NoteSchemaChange(const PGresult* res) {
    const char* tag = PQcmdStatus(const_cast<PGresult*>(res));
    if (StartsWith(tag, "CREATE") || StartsWith(tag, "ALTER") || StartsWith(tag, "DROP")) {
      changed_schema_ = true;
    }
  }

  // Sends every deferred statement; returns the last one's result, or
  // throws the first error. When they start with the transaction's BEGIN
  // and the connection turns out dead before it ran (an idle connection
  // whose server went away), nothing ran: one retry on a new connection.
  ResultPtr SendDeferred() {
    std::vector<Deferred> stmts = std::exchange(deferred_, {});
    const bool with_begin = std::exchange(begin_deferred_, false);
    std::vector<ResultPtr> results;
    for (bool retried = false;; retried = true) {
      bool began = false;
      try {
        results = Pipeline(stmts);
        began = !results.empty() && PQresultStatus(results[0].get()) == PGRES_COMMAND_OK;
      } catch (const DbError&) {
        if (!with_begin || retried || Usable()) throw;
      }
      if (!with_begin || retried || began || Usable()) break;
      Reconnect();
    }
    for (std::size_t i = 0; i < stmts.size(); ++i) {
      const PGresult* r = i < results.size() ? results[i].get() : nullptr;
      Finish(r, stmts[i].sql);  // throws on error
      NoteSchemaChange(r);
    }
    return std::move(results.back());
  }

  // Sends the statements in one round trip (libpq's pipeline mode) and
  // collects their results in order; fewer if the connection failed.
  // Statements with parameters run prepared, the others (BEGIN, SAVEPOINT)
  // unnamed. In a failed transaction (a queued ROLLBACK TO SAVEPOINT is
  // about to repair it) nothing can be prepared: a statement not prepared
  // yet then runs unnamed too.
  std::vector<ResultPtr> Pipeline(const std::vector<Deferred>& stmts) {
    const bool failed = InFailedTransaction();
    std::vector<const std::string*> names(stmts.size(), nullptr);
    for (std::size_t i = 0; i < stmts.size(); ++i) {
      if (stmts[i].params.empty()) continue;
      if (auto it = statements_.find(stmts[i].sql); it != statements_.end()) {
        names[i] = &it->second;
      } else if (!failed) {
        names[i] = &Prepare(stmts[i].sql);
      }
    }
    std::vector<Params> params;
    params.reserve(stmts.size());
    for (const auto& st : stmts) params.emplace_back(st.params, st.sql);
    PGconn* c = conn_.get();
    std::vector<ResultPtr> results;
    if (PQenterPipelineMode(c) != 1) {
      broken_ = true;
      return results;
    }
    bool sent = true;
    for (std::size_t i = 0; sent && i < stmts.size(); ++i) {
      const Params& p = params[i];
      sent = (names[i] ? PQsendQueryPrepared(c, names[i]->c_str(), p.size(), p.values.data(),
                                             nullptr, nullptr, 0)
                       : PQsendQueryParams(c, stmts[i].sql.c_str(), p.size(), nullptr,
                                           p.values.data(), nullptr, nullptr, 0)) == 1;
    }
    if (sent && PQpipelineSync(c) == 1) {
      // Each statement's results end with a null, and the sync point ends
      // the pipeline; two nulls in a row mean nothing more will come.
      bool after_null = false;
      for (;;) {
        PGresult* r = PQgetResult(c);
        if (!r) {
          if (after_null || PQstatus(c) != CONNECTION_OK) break;
          after_null = true;
          continue;
        }
        after_null = false;
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
          PQclear(r);
          break;
        }
        results.emplace_back(r);
      }
    }
    if (PQexitPipelineMode(c) != 1) broken_ = true;
    return results;
  }

  // Replaces the server connection by a fresh one (nothing prepared yet).
  void Reconnect() {
    Connect();
    statements_.clear();
    broken_ = false;
    commit_pending_ = false;
  }

  void Connect() {
    conn_.reset(PQconnectdb(conninfo_.c_str()));
    if (!conn_) throw DbError("postgres connect: out of memory");
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      // The conninfo is left out: it may hold a password.
      throw DbError("postgres connect: " + TrimmedMessage(PQerrorMessage(conn_.get())));
    }
    // Notices ("relation already exists, skipping"...) would go to stderr.
    PQsetNoticeProcessor(
        conn_.get(), [](void*, const char*) {}, nullptr);
    if (PQsetClientEncoding(conn_.get(), "UTF8") != 0) {
      throw DbError("postgres connect: cannot set client_encoding to UTF8: " +
                    TrimmedMessage(PQerrorMessage(conn_.get())));
    }
  }

  const std::string& Prepare(std::string_view sql) {
    std::string key(sql);
    auto it = statements_.find(key);
    if (it != statements_.end()) return it->second;
    std::string name = "vigie_" + std::to_string(++statement_counter_);
    ResultPtr res(PQprepare(conn_.get(), name.c_str(), key.c_str(), 0, nullptr));
    Finish(res.get(), sql);
    return statements_.emplace(std::move(key), std::move(name)).first->second;
  }

  // Converts a finished command's result, or throws its error.
  Result Finish(const PGresult* res, std::string_view sql) {
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    switch (status) {
      case PGRES_COMMAND_OK:
      case PGRES_TUPLES_OK:
        return ConvertResult(res);
      case PGRES_EMPTY_QUERY:
        return {};
      case PGRES_COPY_IN:
      case PGRES_COPY_OUT:
      case PGRES_COPY_BOTH:
        // The connection is now stuck in COPY mode: let the pool drop it.
        broken_ = true;
        throw DbError("postgres: COPY is not supported, in: " + Abbreviate(sql));
      default:
        break;
    }
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    // Without a server message the failure is the connection's own.
    std::string msg = primary ? primary : TrimmedMessage(PQerrorMessage(conn_.get()));
    std::string text = "postgres: " + msg;
    if (state) text += std::string(" [SQLSTATE ") + state + "]";
    text += " in: " + Abbreviate(sql);
    last_error_ = text;
    ++failures_;
    if (state && state == kUniqueViolationState) throw UniqueViolation(text);
    throw DbError(text);
  }

  const std::string conninfo_;
  ConnPtr conn_;
  // Statements queued by Defer, and the transaction's BEGIN: sent with the
  // next statement, in the same round trip.
  std::vector<Deferred> deferred_;
  bool begin_deferred_ = false;  // deferred_ starts with a BEGIN not yet sent
  std::unordered_map<std::string, std::string> statements_;  // SQL text -> name
  std::uint64_t statement_counter_ = 0;
  std::uint64_t generation_ = 0;  // the database's schema generation when cleared
  bool broken_ = false;
  bool commit_pending_ = false;  // CommitRead sent a COMMIT whose reply is unread
  bool latest_ = false;          // in a ReadLatest: each statement on its own
  bool retried_ = false;         // a ReadLatest statement was retried (once at most)
  bool changed_schema_ = false;  // by a CREATE/ALTER/DROP run through Query
  std::string last_error_;
  std::uint64_t failures_ = 0;  // statements that failed (never reset)
};

class PostgresDatabase : public Database {
 public:
  explicit PostgresDatabase(const PostgresOptions& opts)
      : conninfo_(opts.conninfo), pool_size_(std::max(1, opts.pool_size)) {
    idle_.reserve(pool_size_);
    // Opens one connection now, so a bad conninfo fails at start-up.
    idle_.push_back(std::make_unique<PgConnection>(conninfo_, generation_.load()));
    free_slots_ = pool_size_;
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  void ExecScript(std::string_view sql) override {
    Lease lease(this);
    PgConnection& c = lease.conn();
    // Cached plans of other connections may now be stale (a `SELECT *`
    // whose table changed shape fails rather than re-plans): start afresh.
    struct BumpGeneration {
      std::atomic<std::uint64_t>& g;
      ~BumpGeneration() { ++g; }
    } bump{generation_};
    c.Exec(sql);
  }

 protected:
  void RunWrite(const std::function<void(Tx&)>& fn) override { Run(false, fn); }
  void RunRead(const std::function<void(Tx&)>& fn) override { Run(true, fn); }
  void RunReadLatest(const std::function<void(Tx&)>& fn) override {
    Lease lease(this);
    PgConnection& c = lease.conn();
    c.SetLatest(true);
    struct EndLatest {
      PgConnection& c;
      ~EndLatest() { c.SetLatest(false); }
    } end{c};
    fn(c);
    c.Flush();  // (reads defer nothing; a deferred statement still runs)
  }

 private:
  // Exclusive use of one pool slot, with a ready connection, for a scope.
  class Lease {
   public:
    explicit Lease(PostgresDatabase* db) : db_(db) {
      conn_ = db_->Acquire();
      try {
        Prepare();
      } catch (...) {
        db_->Release(std::move(conn_));
        throw;
      }
    }
    ~Lease() { db_->Release(std::move(conn_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    PgConnection& conn() { return *conn_; }

    // Replaces the connection by a freshly opened one.
    void Reconnect() {
      conn_.reset();
      conn_ = std::make_unique<PgConnection>(db_->conninfo_, db_->generation_.load());
    }

   private:
    void Prepare() {
      if (conn_) conn_->Absorb();
      if (!conn_ || !conn_->Usable()) {
        Reconnect();
        return;
      }
      const std::uint64_t generation = db_->generation_.load();
      if (conn_->generation() != generation ||
          conn_->cached_statements() > kMaxPreparedStatements) {
        try {
          conn_->ClearStatements(generation);
        } catch (const DbError&) {
          Reconnect();
        }
      }
    }

    PostgresDatabase* db_;
    std::unique_ptr<PgConnection> conn_;
  };

  void Run(bool read_only, const std::function<void(Tx&)>& fn) {
    Lease lease(this);
    PgConnection& c = lease.conn();
    c.DeferBegin(read_only ? kBeginRead : kBeginWrite);
    // Cached plans of other connections may be stale after DDL (see
    // ExecScript), committed or not.
    struct BumpIfSchemaChanged {
      PgConnection& c;
      std::atomic<std::uint64_t>& g;
      ~BumpIfSchemaChanged() {
        if (c.TakeChangedSchema()) ++g;
      }
    } bump{c, generation_};
    try {
      fn(c);
      if (read_only) {
        c.CommitRead();
      } else {
        c.Commit();
      }
    } catch (...) {
      c.RollbackQuietly();
      throw;
    }
  }

  // Blocks until a slot is free; returns its idle connection, or null when
  // the slot has none open yet.
  std::unique_ptr<PgConnection> Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return free_slots_ > 0; });
    --free_slots_;
    if (idle_.empty()) return nullptr;
    // Last in, first out: the most recently used connection is warmest.
    std::unique_ptr<PgConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  void Release(std::unique_ptr<PgConnection> conn) noexcept {
    if (conn) {
      conn->RollbackQuietly();
      // Closing talks to the server: do it outside the lock.
      if (!conn->Usable() || !conn->Idle()) conn.reset();
    }
    {
      std::lock_guard lock(mu_);
      // idle_ has capacity for every slot: push_back does not allocate.
      if (conn) idle_.push_back(std::move(conn));
      ++free_slots_;
    }
    cv_.notify_one();
  }

  const std::string conninfo_;
  const int pool_size_;
  // Bumped by ExecScript; a connection from an older generation drops its
  // prepared statements before use.
  std::atomic<std::uint64_t> generation_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  int free_slots_ = 0;                               // guarded by mu_
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<Database> OpenPostgres(const PostgresOptions& opts) {
  return std::make_unique<PostgresDatabase>(opts);
}

}  // namespace vigie::sql
