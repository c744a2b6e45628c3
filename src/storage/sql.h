// The SQL seam between vigie's domain stores and its two database engines
// (SQLite, PostgreSQL). Domain stores write portable SQL with $1..$N
// placeholders against `Tx`; an engine implements `Database`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vigie::sql {

using Value = std::variant<std::monostate, std::int64_t, double, std::string>;
inline const Value kNull{};

// Parameter values: a string from a view, and an optional (NULL when empty).
inline Value Str(std::string_view s) { return std::string(s); }
inline Value Opt(const std::optional<std::string>& v) { return v ? Value(*v) : kNull; }
inline Value Opt(const std::optional<std::int64_t>& v) { return v ? Value(*v) : kNull; }

// A LIKE pattern that matches `s` literally: '%', '_' and '!' are escaped
// with '!', so the statement says ESCAPE '!'.
std::string LikeLiteral(std::string_view s);

enum class Dialect { kSqlite, kPostgres };

// Appends "$k, $k+1, ..." to `sql` for the values in [begin, end), and the
// values to `params` ($k is the next free placeholder): the inside of an
// "IN (...)" list.
template <typename It>
void AppendList(std::string& sql, std::vector<Value>& params, It begin, It end) {
  for (auto it = begin; it != end; ++it) {
    if (it != begin) sql += ", ";
    params.emplace_back(*it);
    sql += "$" + std::to_string(params.size());
  }
}

// Calls fn(first, last) on consecutive runs of at most `n` elements of
// `range`, in order: the chunks of an IN-list too long for one statement.
template <typename Range, typename Fn>
void ForEachChunk(const Range& range, std::size_t n, Fn&& fn) {
  const auto end = std::end(range);
  for (auto first = std::begin(range); first != end;) {
    auto last = first;
    if constexpr (std::random_access_iterator<decltype(first)>) {
      last += static_cast<std::ptrdiff_t>(std::min<std::size_t>(n, end - first));
    } else {
      for (std::size_t k = 0; k < n && last != end; ++k) ++last;
    }
    fn(first, last);
    first = last;
  }
}

// One result row. Integer columns (INTEGER/BIGINT/BOOLEAN) come back as
// int64, text columns as string, NULL as monostate.
class Row {
 public:
  explicit Row(std::vector<Value> cols) : cols_(std::move(cols)) {}
  std::size_t size() const { return cols_.size(); }
  bool IsNull(std::size_t i) const { return std::holds_alternative<std::monostate>(cols_.at(i)); }
  std::int64_t Int(std::size_t i) const;
  bool Bool(std::size_t i) const { return Int(i) != 0; }
  double Real(std::size_t i) const;
  std::string Text(std::size_t i) const;  // "" for NULL
  std::optional<std::string> OptText(std::size_t i) const;
  std::optional<std::int64_t> OptInt(std::size_t i) const;

 private:
  std::vector<Value> cols_;
};

struct Result {
  std::vector<Row> rows;
  std::int64_t affected = 0;  // rows changed by INSERT/UPDATE/DELETE
  bool empty() const { return rows.empty(); }
};

// Thrown by engines for failures that are not the caller's fault.
struct DbError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A unique or primary-key constraint was violated.
struct UniqueViolation : DbError {
  using DbError::DbError;
};

// A transaction, or a read snapshot. Not thread-safe: it belongs to the
// thread that called Database::Write/Read for the duration of the callback.
class Tx {
 public:
  virtual ~Tx() = default;
  virtual Dialect dialect() const = 0;
  // Runs one statement with positional parameters $1..$N.
  virtual Result Query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs one statement and returns its first row, if any.
  std::optional<Row> QueryOne(std::string_view sql, const std::vector<Value>& params = {});
  // Runs a statement whose result is not needed, now or together with the
  // next Query, Flush or the commit: PostgreSQL sends them in one round
  // trip, and its error surfaces there. Statements run in the order given.
  virtual void Defer(std::string_view sql, const std::vector<Value>& params = {}) {
    Query(sql, params);
  }
  // Runs what was deferred now; throws its error.
  virtual void Flush() {}
  // Whether Defer holds statements back (PostgreSQL), rather than running
  // them at once (SQLite, where Flush has nothing to do).
  virtual bool Defers() const { return false; }
  // A count of the statements that failed, those whose error a caller
  // caught included: compared before and after some work, it tells whether
  // a statement failed during it, even one deferred earlier that failed
  // under a later Query. Kept by the engines that defer; 0 from others.
  virtual std::uint64_t StatementFailures() const { return 0; }
};

// Thrown by a statement run in a `MemoryOnlyTx`. Not a std::exception, so
// that no handler of failures takes it for one.
struct NeedsDatabase {};

// A transaction with no database behind it, for work that is usually
// answered from what the services keep in memory and is tried first where
// nothing may block (an I/O thread): its first statement throws
// NeedsDatabase, and the caller runs the work again in a real transaction
// on a worker thread. So the work must change nothing shared before a
// statement that could throw (caches filled from a read are filled after
// it). The dialect is the database's, for work that chooses its statements
// by it before running any.
class MemoryOnlyTx final : public Tx {
 public:
  explicit MemoryOnlyTx(Dialect dialect) : dialect_(dialect) {}
  Dialect dialect() const override { return dialect_; }
  Result Query(std::string_view, const std::vector<Value>&) override { throw NeedsDatabase{}; }
  void Defer(std::string_view, const std::vector<Value>&) override { throw NeedsDatabase{}; }

 private:
  Dialect dialect_;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Dialect dialect() const = 0;

  // Runs `fn` in a read-write transaction: committed when fn returns,
  // rolled back when it throws (the exception propagates). Blocks: call it
  // from a worker thread, never an I/O thread.
  template <typename F>
  auto Write(F&& fn) -> decltype(fn(std::declval<Tx&>())) {
    using R = decltype(fn(std::declval<Tx&>()));
    if constexpr (std::is_void_v<R>) {
      RunWrite([&](Tx& tx) { fn(tx); });
    } else {
      std::optional<R> out;
      RunWrite([&](Tx& tx) { out.emplace(fn(tx)); });
      return std::move(*out);
    }
  }

  // Runs `fn` against a consistent read snapshot. Blocks.
  template <typename F>
  auto Read(F&& fn) -> decltype(fn(std::declval<Tx&>())) {
    using R = decltype(fn(std::declval<Tx&>()));
    if constexpr (std::is_void_v<R>) {
      RunRead([&](Tx& tx) { fn(tx); });
    } else {
      std::optional<R> out;
      RunRead([&](Tx& tx) { out.emplace(fn(tx)); });
      return std::move(*out);
    }
  }

  // Runs `fn` where each statement reads the latest committed data, with no
  // snapshot shared between statements: for readers whose every query is
  // bounded by published stream positions (an incremental /sync), for whom
  // a snapshot adds nothing. PostgreSQL then sends no BEGIN and no COMMIT:
  // a read of one statement is one round trip, where a snapshot takes two
  // more statements (about a third of PostgreSQL's CPU per woken
  // long-poll). SQLite runs it as Read. Blocks.
  template <typename F>
  auto ReadLatest(F&& fn) -> decltype(fn(std::declval<Tx&>())) {
    using R = decltype(fn(std::declval<Tx&>()));
    if constexpr (std::is_void_v<R>) {
      RunReadLatest([&](Tx& tx) { fn(tx); });
    } else {
      std::optional<R> out;
      RunReadLatest([&](Tx& tx) { out.emplace(fn(tx)); });
      return std::move(*out);
    }
  }

  // Runs a multi-statement script outside any transaction (schema set-up).
  virtual void ExecScript(std::string_view sql) = 0;

 protected:
  virtual void RunWrite(const std::function<void(Tx&)>& fn) = 0;
  virtual void RunRead(const std::function<void(Tx&)>& fn) = 0;
  virtual void RunReadLatest(const std::function<void(Tx&)>& fn) { RunRead(fn); }
};

struct SqliteOptions {
  std::string path;                  // file path, or ":memory:" (tests)
  int readers = 4;                   // reader connections (WAL allows concurrent reads)
  std::string synchronous = "FULL";  // FULL or NORMAL
};
std::unique_ptr<Database> OpenSqlite(const SqliteOptions& opts);
// Checkpoints done so far by a SQLite database's checkpointer thread (0 for
// other engines and in-memory databases).
std::uint64_t SqliteCheckpoints(Database& db);

struct PostgresOptions {
  std::string conninfo;  // libpq connection string or URI
  int pool_size = 8;
};
std::unique_ptr<Database> OpenPostgres(const PostgresOptions& opts);

}  // namespace vigie::sql
