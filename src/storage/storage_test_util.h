// Test harness for code above the SQL seam: gives each test a fresh, empty
// database on each engine, so that one test body checks both.
//
//   class AccountStoreTest : public vigie::sql::testutil::EngineTest {};
//
//   TEST_P(AccountStoreTest, CreatesUser) {
//     vigie::storage::Migrate(db());
//     db().Write([](vigie::sql::Tx& tx) { ... });
//   }
//
//   VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(AccountStoreTest);
//
// which runs `Engines/AccountStoreTest.CreatesUser/Sqlite` and
// `.../Postgres`. Outside a fixture, OpenTestDatabase() gives the same kind
// of database.
//
// SQLite: a new file in the temporary directory, removed afterwards.
// PostgreSQL: a new database `vigie_test_<random>` (UTF8, C collation, like
// SQLite's byte-wise ordering) on the server named by the environment
// variable VIGIE_TEST_PG (a libpq URI or conninfo whose role may CREATE
// DATABASE, e.g. the URL printed by `scripts/pg-test-server.sh start DIR`),
// dropped WITH (FORCE) afterwards. Without VIGIE_TEST_PG the PostgreSQL
// tests are skipped, or fail when VIGIE_REQUIRE_PG=1 (as in CI).
//
// Header-only, so that any layer's test binary can include it.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include "storage/sql.h"

namespace vigie::sql {

// Shows the engine in test output ("where GetParam() = Postgres").
inline void PrintTo(Dialect d, std::ostream* os) {
  *os << (d == Dialect::kSqlite ? "Sqlite" : "Postgres");
}

}  // namespace vigie::sql

namespace vigie::sql::testutil {

inline constexpr const char* kPostgresServerEnv = "VIGIE_TEST_PG";
inline constexpr const char* kRequirePostgresEnv = "VIGIE_REQUIRE_PG";

// The server given by VIGIE_TEST_PG, if set and not empty.
inline std::optional<std::string> PostgresTestServer() {
  const char* v = std::getenv(kPostgresServerEnv);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

// True when VIGIE_REQUIRE_PG=1: a missing PostgreSQL server is a failure.
inline bool PostgresRequired() {
  const char* v = std::getenv(kRequirePostgresEnv);
  return v && std::string_view(v) == "1";
}

inline std::string EngineLabel(Dialect d) { return ::testing::PrintToString(d); }

// 16 random hex digits.
inline std::string RandomSuffix() {
  std::random_device rd;
  std::uint64_t n = (std::uint64_t{rd()} << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(n));
  return buf;
}

// `conninfo` (a URI or key=value string) with its database replaced by
// `dbname`, as a key=value string. Throws DbError if it does not parse.
inline std::string WithDatabase(const std::string& conninfo, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string msg = err ? err : "out of memory";
    PQfreemem(err);
    throw DbError(std::string(kPostgresServerEnv) + " does not parse: " + msg);
  }
  auto quote = [](std::string_view v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    return out + "'";
  };
  std::string out;
  for (const PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val || std::string_view(o->keyword) == "dbname") continue;
    out += std::string(o->keyword) + "=" + quote(o->val) + " ";
  }
  PQconninfoFree(opts);
  return out + "dbname=" + quote(dbname);
}

// A connection to the VIGIE_TEST_PG server's own database, shared by the
// process, for CREATE/DROP DATABASE. Throws DbError if it cannot connect.
inline Database& PostgresAdmin(const std::string& server) {
  static std::mutex mu;
  static std::unique_ptr<Database> admin;
  std::lock_guard lock(mu);
  if (!admin) admin = OpenPostgres({.conninfo = server, .pool_size = 1});
  return *admin;
}

// A database that owns its storage, deleted when it is destroyed: a
// temporary SQLite file, or a scratch PostgreSQL database.
class ScratchDatabase : public Database {
 public:
  // Returns nullptr, with the reason in *why, when `dialect` is PostgreSQL
  // and VIGIE_TEST_PG is unset. Throws DbError when creation fails.
  static std::unique_ptr<ScratchDatabase> Create(Dialect dialect, std::string* why = nullptr) {
    std::unique_ptr<ScratchDatabase> db(new ScratchDatabase(dialect));
    if (dialect == Dialect::kSqlite) {
      db->location_ =
          (std::filesystem::temp_directory_path() / ("vigie_test_" + RandomSuffix() + ".db"))
              .string();
    } else {
      std::optional<std::string> server = PostgresTestServer();
      if (!server) {
        if (why) {
          *why = std::string(kPostgresServerEnv) +
                 " is not set: no PostgreSQL server to test against (start one with "
                 "`scripts/pg-test-server.sh start DIR` and export the URL it prints)";
        }
        return nullptr;
      }
      db->server_ = *server;
      db->location_ = "vigie_test_" + RandomSuffix();
      PostgresAdmin(db->server_)
          .ExecScript("CREATE DATABASE " + db->location_ +
                      " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
      db->created_ = true;
    }
    db->Open();
    return db;
  }

  ~ScratchDatabase() override {
    inner_.reset();
    try {
      if (dialect_ == Dialect::kSqlite) {
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
          std::error_code ec;
          std::filesystem::remove(location_ + suffix, ec);
        }
      } else if (created_) {
        PostgresAdmin(server_).ExecScript("DROP DATABASE IF EXISTS " + location_ + " WITH (FORCE)");
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: cannot delete test database %s: %s\n", location_.c_str(),
                   e.what());
    }
  }

  Dialect dialect() const override { return dialect_; }
  void ExecScript(std::string_view sql) override { inner_->ExecScript(sql); }

  // Closes the engine and opens a new one on the same storage, as a restart
  // of vigie would. Nothing may be using the database meanwhile.
  void Restart() {
    inner_.reset();
    Open();
  }

  // The SQLite file path, or the PostgreSQL database name.
  const std::string& location() const { return location_; }

 protected:
  void RunWrite(const std::function<void(Tx&)>& fn) override { inner_->Write(fn); }
  void RunRead(const std::function<void(Tx&)>& fn) override { inner_->Read(fn); }
  void RunReadLatest(const std::function<void(Tx&)>& fn) override { inner_->ReadLatest(fn); }

 private:
  explicit ScratchDatabase(Dialect dialect) : dialect_(dialect) {}

  void Open() {
    if (dialect_ == Dialect::kSqlite) {
      inner_ = OpenSqlite({.path = location_, .readers = 4, .synchronous = "NORMAL"});
    } else {
      inner_ = OpenPostgres({.conninfo = WithDatabase(server_, location_), .pool_size = 8});
    }
  }

  Dialect dialect_;
  std::string server_;    // PostgreSQL only
  std::string location_;  // file path or database name
  bool created_ = false;  // the PostgreSQL database exists and is ours to drop
  std::unique_ptr<Database> inner_;
};

// A fresh, empty database of the given engine that deletes its storage
// when destroyed; for tests of the layers above storage. Returns nullptr,
// with the reason in *why, when the engine is not configured (PostgreSQL
// without VIGIE_TEST_PG); throws DbError when it cannot be created.
inline std::unique_ptr<Database> OpenTestDatabase(Dialect dialect, std::string* why = nullptr) {
  return ScratchDatabase::Create(dialect, why);
}

// Base fixture of tests run once per engine. A subclass that overrides
// SetUp() must call EngineTest::SetUp() first and return at once if
// IsSkipped() or HasFatalFailure().
class EngineTest : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    std::string why;
    try {
      db_ = ScratchDatabase::Create(GetParam(), &why);
    } catch (const std::exception& e) {
      GTEST_FAIL() << "cannot create a " << EngineLabel(GetParam())
                   << " test database: " << e.what();
    }
    if (!db_) {
      if (PostgresRequired()) {
        GTEST_FAIL() << why << "; " << kRequirePostgresEnv << "=1 requires it";
      }
      GTEST_SKIP() << why;
    }
  }

  void TearDown() override { db_.reset(); }

  Database& db() { return *db_; }
  Dialect dialect() const { return GetParam(); }
  bool is_postgres() const { return GetParam() == Dialect::kPostgres; }

  // Closes and reopens the database on the same storage (a restart).
  void Restart() { db_->Restart(); }

  // The database itself, for its location().
  ScratchDatabase& scratch() { return *db_; }

 private:
  std::unique_ptr<ScratchDatabase> db_;
};

// Test names: "Sqlite", "Postgres".
inline std::string EngineName(const ::testing::TestParamInfo<Dialect>& info) {
  return EngineLabel(info.param);
}

}  // namespace vigie::sql::testutil

// Runs every TEST_P of `suite` (a subclass of EngineTest) on both engines.
#define VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(suite)                                         \
  INSTANTIATE_TEST_SUITE_P(                                                                \
      Engines, suite,                                                                      \
      ::testing::Values(::vigie::sql::Dialect::kSqlite, ::vigie::sql::Dialect::kPostgres), \
      ::vigie::sql::testutil::EngineName)

// Runs every TEST_P of `suite` on PostgreSQL only (engine-specific tests).
#define VIGIE_INSTANTIATE_POSTGRES_TEST_SUITE(suite)                                            \
  INSTANTIATE_TEST_SUITE_P(Engines, suite, ::testing::Values(::vigie::sql::Dialect::kPostgres), \
                           ::vigie::sql::testutil::EngineName)
