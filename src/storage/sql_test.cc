// Conformance of the two engines behind the SQL seam: every SqlTest runs on
// SQLite and on PostgreSQL and must pass alike. PostgresTest covers what
// only the PostgreSQL engine does (connection pool, server errors).
#include "storage/sql.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage_test_util.h"

namespace vigie::sql {
namespace {

using testutil::EngineTest;

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

class SqlTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db().ExecScript(R"sql(
CREATE TABLE items (
  id BIGINT PRIMARY KEY,
  i BIGINT,
  r DOUBLE PRECISION,
  s TEXT,
  b BOOLEAN
);
CREATE TABLE names (name TEXT NOT NULL UNIQUE, n BIGINT NOT NULL);
CREATE TABLE triples (a TEXT, b TEXT, c TEXT);
CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);
)sql");
  }

  std::int64_t Count(const std::string& table) {
    return db().Read([&](Tx& tx) { return tx.QueryOne("SELECT COUNT(*) FROM " + table)->Int(0); });
  }

  void InsertItem(Tx& tx, std::int64_t id, Value i = kNull, Value r = kNull, Value s = kNull,
                  Value b = kNull) {
    Result res = tx.Query("INSERT INTO items (id, i, r, s, b) VALUES ($1, $2, $3, $4, $5)",
                          {id, std::move(i), std::move(r), std::move(s), std::move(b)});
    ASSERT_EQ(res.affected, 1);
  }

  // Item `id`'s row: id, i, r, s, b.
  Row Item(std::int64_t id) {
    auto row = db().Read([&](Tx& tx) {
      return tx.QueryOne("SELECT id, i, r, s, b FROM items WHERE id = $1", {id});
    });
    if (!row) throw std::runtime_error("no item " + std::to_string(id));
    return *row;
  }
};

// A transaction with no database: whatever statement work tries, it is
// told it needs the database, before anything runs.
TEST(MemoryOnlyTxTest, EveryStatementNeedsTheDatabase) {
  MemoryOnlyTx tx(Dialect::kPostgres);
  Tx& t = tx;
  EXPECT_EQ(t.dialect(), Dialect::kPostgres);
  EXPECT_THROW(t.Query("SELECT 1"), NeedsDatabase);
  EXPECT_THROW(t.QueryOne("SELECT $1", {Value{std::int64_t{1}}}), NeedsDatabase);
  EXPECT_THROW(t.Defer("DELETE FROM x"), NeedsDatabase);
  EXPECT_NO_THROW(t.Flush());  // nothing was deferred
  // Not a std::exception: a handler of failures does not take it for one.
  bool as_failure = false;
  try {
    t.Query("SELECT 1");
  } catch (const std::exception&) {
    as_failure = true;
  } catch (const NeedsDatabase&) {
  }
  EXPECT_FALSE(as_failure);
  EXPECT_EQ(MemoryOnlyTx(Dialect::kSqlite).dialect(), Dialect::kSqlite);
}

TEST_P(SqlTest, InsertsAndReadsBackEveryType) {
  db().Write([&](Tx& tx) {
    InsertItem(tx, 1, std::int64_t{42}, 2.5, std::string("hello"), std::int64_t{1});
    InsertItem(tx, 2, std::int64_t{-7}, -0.125, std::string("00123"), std::int64_t{0});
  });
  Row one = Item(1);
  ASSERT_EQ(one.size(), 5u);
  EXPECT_EQ(one.Int(0), 1);
  EXPECT_EQ(one.Int(1), 42);
  EXPECT_EQ(one.Real(2), 2.5);
  EXPECT_EQ(one.Text(3), "hello");
  EXPECT_TRUE(one.Bool(4));
  for (std::size_t c = 0; c < one.size(); ++c) EXPECT_FALSE(one.IsNull(c)) << c;
  EXPECT_EQ(one.OptInt(1), 42);
  EXPECT_EQ(one.OptText(3), "hello");

  Row two = Item(2);
  EXPECT_EQ(two.Int(1), -7);
  EXPECT_EQ(two.Real(2), -0.125);
  EXPECT_EQ(two.Text(3), "00123");  // stays text
  EXPECT_FALSE(two.Bool(4));
}

TEST_P(SqlTest, BooleanColumnsCompareWithIntegerParameters) {
  db().Write([&](Tx& tx) {
    InsertItem(tx, 1, kNull, kNull, kNull, std::int64_t{1});
    InsertItem(tx, 2, kNull, kNull, kNull, std::int64_t{0});
    InsertItem(tx, 3, kNull, kNull, kNull, std::int64_t{1});
  });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items WHERE b = $1", {std::int64_t{1}})->Int(0), 2);
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items WHERE b = $1", {std::int64_t{0}})->Int(0), 1);
  });
}

TEST_P(SqlTest, LikeLiteralMatchesItsTextOnlyOnBothEngines) {
  const std::vector<std::string> texts = {"a%b", "axb", "a_b", "a!b", "a%bc"};
  db().Write([&](Tx& tx) {
    for (std::size_t k = 0; k < texts.size(); ++k) {
      InsertItem(tx, static_cast<std::int64_t>(k), kNull, kNull, texts[k], kNull);
    }
  });
  auto matches = [&](std::string_view text) {
    return db().Read([&](Tx& tx) {
      std::vector<std::string> out;
      auto res = tx.Query("SELECT s FROM items WHERE s LIKE $1 ESCAPE '!' ORDER BY id",
                          {sql::LikeLiteral(text)});
      for (const auto& r : res.rows) out.push_back(r.Text(0));
      return out;
    });
  };
  EXPECT_EQ(sql::LikeLiteral("a%b_c!d"), "a!%b!_c!!d");
  EXPECT_EQ(matches("a%b"), std::vector<std::string>{"a%b"});
  EXPECT_EQ(matches("a_b"), std::vector<std::string>{"a_b"});
  EXPECT_EQ(matches("a!b"), std::vector<std::string>{"a!b"});
  db().Read([&](Tx& tx) {  // unescaped, the same pattern matches more
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items WHERE s LIKE 'a_b'")->Int(0), 4);
  });
}

TEST_P(SqlTest, NullsRoundTrip) {
  db().Write([&](Tx& tx) { InsertItem(tx, 1, kNull, kNull, kNull, kNull); });
  Row row = Item(1);
  for (std::size_t c = 1; c < row.size(); ++c) EXPECT_TRUE(row.IsNull(c)) << c;
  EXPECT_EQ(row.OptInt(1), std::nullopt);
  EXPECT_EQ(row.OptText(3), std::nullopt);
  EXPECT_EQ(row.Text(3), "");
  EXPECT_EQ(row.Int(1), 0);
  db().Read([&](Tx& tx) {
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items WHERE s IS NULL AND i IS NULL")->Int(0), 1);
    // NULL compares as unknown, on both engines.
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items WHERE s = $1", {kNull})->Int(0), 0);
    auto nothing = tx.QueryOne("SELECT MAX(i) FROM items");
    ASSERT_TRUE(nothing);
    EXPECT_TRUE(nothing->IsNull(0));
  });
}

TEST_P(SqlTest, Int64ExtremesRoundTrip) {
  const std::vector<std::int64_t> values = {kMin, kMin + 1, -1, 0, 1, kMax - 1, kMax};
  db().Write([&](Tx& tx) {
    for (std::int64_t v : values) InsertItem(tx, v, v);
  });
  db().Read([&](Tx& tx) {
    Result all = tx.Query("SELECT id, i FROM items ORDER BY id");
    ASSERT_EQ(all.rows.size(), values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
      EXPECT_EQ(all.rows[k].Int(0), values[k]);
      EXPECT_EQ(all.rows[k].Int(1), values[k]);
    }
    for (std::int64_t v : values) {
      auto row = tx.QueryOne("SELECT i FROM items WHERE i = $1", {v});
      ASSERT_TRUE(row) << v;
      EXPECT_EQ(row->Int(0), v);
    }
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items WHERE i > $1", {kMin})->Int(0), 6);
    EXPECT_EQ(tx.QueryOne("SELECT MIN(i), MAX(i) FROM items")->Int(1), kMax);
  });
}

TEST_P(SqlTest, DoublesRoundTripExactly) {
  const std::vector<double> values = {0.1,     1.0 / 3.0, -1.5,        1e300, -2.5e-300,
                                      DBL_MAX, DBL_MIN,   DBL_EPSILON, 3.0,   123456789.125};
  db().Write([&](Tx& tx) {
    for (std::size_t k = 0; k < values.size(); ++k) {
      InsertItem(tx, static_cast<std::int64_t>(k), kNull, values[k]);
    }
  });
  db().Read([&](Tx& tx) {
    Result all = tx.Query("SELECT r FROM items ORDER BY id");
    ASSERT_EQ(all.rows.size(), values.size());
    for (std::size_t k = 0; k < values.size(); ++k) EXPECT_EQ(all.rows[k].Real(0), values[k]) << k;
    EXPECT_EQ(tx.QueryOne("SELECT id FROM items WHERE r = $1", {0.1})->Int(0), 0);
    EXPECT_EQ(all.rows[8].Int(0), 3);  // a whole double reads as an integer too
  });
}

TEST_P(SqlTest, AggregatesReadAsNumbers) {
  db().Write([&](Tx& tx) {
    for (std::int64_t k = 1; k <= 4; ++k) InsertItem(tx, k, k * 10, k * 0.5);
  });
  auto row = db().Read([&](Tx& tx) {
    return *tx.QueryOne("SELECT COUNT(*), SUM(i), MAX(i), MIN(r), SUM(r) FROM items");
  });
  EXPECT_EQ(row.Int(0), 4);
  EXPECT_EQ(row.Int(1), 100);
  EXPECT_EQ(row.Int(2), 40);
  EXPECT_EQ(row.Real(3), 0.5);
  EXPECT_EQ(row.Real(4), 5.0);
}

TEST_P(SqlTest, AffectedCountsChangedRows) {
  db().Write([&](Tx& tx) {
    for (std::int64_t k = 1; k <= 5; ++k) InsertItem(tx, k, k);
    EXPECT_EQ(tx.Query("UPDATE items SET i = i + 1 WHERE id <= $1", {std::int64_t{3}}).affected, 3);
    EXPECT_EQ(tx.Query("UPDATE items SET i = 0 WHERE id > $1", {std::int64_t{100}}).affected, 0);
    EXPECT_EQ(tx.Query("DELETE FROM items WHERE id > $1", {std::int64_t{3}}).affected, 2);
    EXPECT_EQ(
        tx.Query("INSERT INTO items (id) VALUES ($1), ($2)", {std::int64_t{10}, std::int64_t{11}})
            .affected,
        2);
    EXPECT_EQ(tx.Query("INSERT INTO items (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
                       {std::int64_t{10}})
                  .affected,
              0);
    EXPECT_EQ(tx.Query("INSERT INTO items (id, i) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET "
                       "i = excluded.i",
                       {std::int64_t{10}, std::int64_t{99}})
                  .affected,
              1);
    EXPECT_EQ(tx.Query("DELETE FROM items").affected, 5);
  });
  EXPECT_EQ(Count("items"), 0);
}

TEST_P(SqlTest, InsertReturning) {
  db().ExecScript(
      is_postgres() ? "CREATE TABLE seqs (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY "
                      "KEY, v TEXT NOT NULL)"
                    : "CREATE TABLE seqs (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)");
  db().Write([&](Tx& tx) {
    Result a = tx.Query("INSERT INTO seqs (v) VALUES ($1) RETURNING id, v", {std::string("a")});
    EXPECT_EQ(a.affected, 1);
    ASSERT_EQ(a.rows.size(), 1u);
    EXPECT_EQ(a.rows[0].Int(0), 1);
    EXPECT_EQ(a.rows[0].Text(1), "a");
    auto b = tx.QueryOne("INSERT INTO seqs (v) VALUES ($1) RETURNING id", {std::string("b")});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->Int(0), 2);
    Result two = tx.Query("INSERT INTO seqs (v) VALUES ($1), ($2) RETURNING id",
                          {std::string("c"), std::string("d")});
    EXPECT_EQ(two.affected, 2);
    ASSERT_EQ(two.rows.size(), 2u);
    std::set<std::int64_t> ids = {two.rows[0].Int(0), two.rows[1].Int(0)};
    EXPECT_EQ(ids, (std::set<std::int64_t>{3, 4}));
    Result upd = tx.Query("UPDATE seqs SET v = v || $1 WHERE id <= $2 RETURNING v",
                          {std::string("!"), std::int64_t{2}});
    EXPECT_EQ(upd.affected, 2);
    EXPECT_EQ(upd.rows.size(), 2u);
    Result del = tx.Query("DELETE FROM seqs WHERE id = $1 RETURNING v", {std::int64_t{1}});
    EXPECT_EQ(del.affected, 1);
    ASSERT_EQ(del.rows.size(), 1u);
    EXPECT_EQ(del.rows[0].Text(0), "a!");
  });
}

TEST_P(SqlTest, DuplicateKeyThrowsUniqueViolation) {
  db().Write([&](Tx& tx) { InsertItem(tx, 1, std::int64_t{1}); });
  EXPECT_THROW(db().Write([&](Tx& tx) { InsertItem(tx, 1, std::int64_t{2}); }), UniqueViolation);

  auto add_name = [&](Tx& tx, const char* name) {
    tx.Query("INSERT INTO names (name, n) VALUES ($1, $2)", {std::string(name), std::int64_t{0}});
  };
  db().Write([&](Tx& tx) { add_name(tx, "alice"); });
  // The whole transaction goes: "bob" does not land either.
  EXPECT_THROW(db().Write([&](Tx& tx) {
    add_name(tx, "bob");
    add_name(tx, "alice");
  }),
               UniqueViolation);
  EXPECT_EQ(Count("names"), 1);
  EXPECT_EQ(Item(1).Int(1), 1);
}

TEST_P(SqlTest, OtherConstraintFailuresAreNotUniqueViolations) {
  try {
    db().Write([&](Tx& tx) {
      tx.Query("INSERT INTO names (name, n) VALUES ($1, $2)", {std::string("x"), kNull});
    });
    FAIL() << "NOT NULL was not enforced";
  } catch (const UniqueViolation& e) {
    FAIL() << "NOT NULL reported as a unique violation: " << e.what();
  } catch (const DbError& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
  }
  EXPECT_EQ(Count("names"), 0);
}

TEST_P(SqlTest, ErrorsNameTheProblem) {
  try {
    db().Read([&](Tx& tx) { tx.Query("SELECT * FROM no_such_table"); });
    FAIL() << "no error";
  } catch (const DbError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_table"), std::string::npos) << e.what();
  }
  EXPECT_THROW(db().Write([&](Tx& tx) { tx.Query("SELEKT 1"); }), DbError);
  // The engine is still usable after errors.
  db().Write([&](Tx& tx) { InsertItem(tx, 1); });
  EXPECT_EQ(Count("items"), 1);
}

struct Boom {};

TEST_P(SqlTest, ExceptionRollsBackAndPropagates) {
  EXPECT_THROW(db().Write([&](Tx& tx) {
    InsertItem(tx, 1);
    InsertItem(tx, 2);
    throw Boom{};
  }),
               Boom);
  EXPECT_EQ(Count("items"), 0);
  // The same statements work again afterwards.
  db().Write([&](Tx& tx) { InsertItem(tx, 1); });
  EXPECT_EQ(Count("items"), 1);
}

TEST_P(SqlTest, DeferredStatementsRunInOrderBeforeTheNextOne) {
  // The batching writer's pattern: a failed step rolls back to its
  // savepoint, the others stay.
  db().Write([&](Tx& tx) {
    InsertItem(tx, 1);
    tx.Defer("SAVEPOINT step");
    InsertItem(tx, 2);
    tx.Defer("ROLLBACK TO SAVEPOINT step");
    tx.Defer("RELEASE SAVEPOINT step");
    tx.Defer("SAVEPOINT step");
    // Runs after the rollback: it sees item 1 only.
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM items")->Int(0), 1);
    InsertItem(tx, 3);
    tx.Defer("RELEASE SAVEPOINT step");
  });
  EXPECT_EQ(Count("items"), 2);
  EXPECT_THROW(Item(2), std::runtime_error);
  // Deferred until the commit: still run, in order.
  db().Write([&](Tx& tx) {
    tx.Defer("SAVEPOINT last");
    InsertItem(tx, 4);
    tx.Defer("ROLLBACK TO SAVEPOINT last");
  });
  EXPECT_EQ(Count("items"), 2);
}

TEST_P(SqlTest, AFailedStepRepairedByADeferredRollbackLetsTheNextStepRun) {
  // The batching writer after a failed write: its ROLLBACK TO is queued
  // when the next write's first statement (new on this connection) goes out.
  db().Write([&](Tx& tx) { InsertItem(tx, 1); });
  db().Write([&](Tx& tx) {
    tx.Defer("SAVEPOINT step");
    EXPECT_THROW(InsertItem(tx, 1), UniqueViolation);
    tx.Defer("ROLLBACK TO SAVEPOINT step");
    tx.Defer("RELEASE SAVEPOINT step");
    tx.Defer("SAVEPOINT step");
    tx.Defer("INSERT INTO items (id, s) VALUES ($1, 'never seen before')", {std::int64_t{2}});
    tx.Defer("RELEASE SAVEPOINT step");
    tx.Flush();
  });
  EXPECT_EQ(Count("items"), 2);
}

TEST_P(SqlTest, ADeferredStatementsErrorFailsTheTransaction) {
  // Surfacing at the next statement...
  EXPECT_THROW(db().Write([&](Tx& tx) {
    InsertItem(tx, 1);
    tx.Defer("RELEASE SAVEPOINT never_made");
    InsertItem(tx, 2);
  }),
               DbError);
  // ...or at the commit.
  EXPECT_THROW(db().Write([&](Tx& tx) {
    InsertItem(tx, 1);
    tx.Defer("ROLLBACK TO SAVEPOINT never_made");
  }),
               DbError);
  EXPECT_EQ(Count("items"), 0);
  // A transaction that only deferred statements has nothing to do.
  db().Write([&](Tx& tx) { tx.Defer("SAVEPOINT unused"); });
  db().Write([&](Tx& tx) { InsertItem(tx, 5); });
  EXPECT_EQ(Count("items"), 1);
}

TEST_P(SqlTest, CommitPersistsAcrossRestart) {
  std::int64_t n = db().Write([&](Tx& tx) {
    InsertItem(tx, 7, std::int64_t{70}, kNull, std::string("kept"));
    return tx.QueryOne("SELECT COUNT(*) FROM items")->Int(0);
  });
  EXPECT_EQ(n, 1);
  Restart();
  Row row = Item(7);
  EXPECT_EQ(row.Int(1), 70);
  EXPECT_EQ(row.Text(3), "kept");
}

TEST_P(SqlTest, ReadSeesCommittedDataInAStableSnapshot) {
  db().Write([&](Tx& tx) { InsertItem(tx, 1); });
  EXPECT_EQ(Count("items"), 1);
  db().Read([&](Tx& tx) {
    const char* count = "SELECT COUNT(*) FROM items";
    EXPECT_EQ(tx.QueryOne(count)->Int(0), 1);
    std::thread writer([&] { db().Write([&](Tx& w) { InsertItem(w, 2); }); });
    writer.join();
    EXPECT_EQ(tx.QueryOne(count)->Int(0), 1);  // not the row committed meanwhile
  });
  EXPECT_EQ(Count("items"), 2);
}

TEST_P(SqlTest, WritesInAReadTransactionFail) {
  EXPECT_THROW(db().Read([&](Tx& tx) { InsertItem(tx, 1); }), DbError);
  EXPECT_EQ(Count("items"), 0);
}

TEST_P(SqlTest, ConcurrentWritersAllLand) {
  constexpr int kThreads = 4;
  constexpr int kRowsEach = 200;
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kRowsEach; ++k) {
        try {
          db().Write([&](Tx& tx) {
            tx.Query("INSERT INTO items (id, i) VALUES ($1, $2)",
                     {std::int64_t{t * kRowsEach + k}, std::int64_t{t}});
          });
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          errors.push_back(e.what());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " failed, first: " << errors.front();
  EXPECT_EQ(Count("items"), kThreads * kRowsEach);
  db().Read([&](Tx& tx) {
    Result per = tx.Query("SELECT i, COUNT(DISTINCT id) FROM items GROUP BY i ORDER BY i");
    ASSERT_EQ(per.rows.size(), static_cast<std::size_t>(kThreads));
    for (const Row& r : per.rows) EXPECT_EQ(r.Int(1), kRowsEach);
  });
}

TEST_P(SqlTest, ConcurrentIncrementsAreNotLost) {
  db().Write([&](Tx& tx) { tx.Query("INSERT INTO counters (id, n) VALUES (1, 0)"); });
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kEach; ++k) {
        try {
          db().Write([&](Tx& tx) {
            EXPECT_EQ(
                tx.Query("UPDATE counters SET n = n + 1 WHERE id = $1", {std::int64_t{1}}).affected,
                1);
          });
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(
      db().Read([&](Tx& tx) { return tx.QueryOne("SELECT n FROM counters WHERE id = 1")->Int(0); }),
      kThreads * kEach);
}

TEST_P(SqlTest, PlaceholdersMayRepeatAndComeOutOfOrder) {
  const std::vector<Value> params = {std::string("one"), std::string("two")};
  db().Write(
      [&](Tx& tx) { tx.Query("INSERT INTO triples (a, b, c) VALUES ($2, $1, $2)", params); });
  db().Read([&](Tx& tx) {
    auto row =
        tx.QueryOne("SELECT a, b, c FROM triples WHERE c = $2 AND b = $1 AND a = $2", params);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->Text(0), "two");
    EXPECT_EQ(row->Text(1), "one");
    EXPECT_EQ(row->Text(2), "two");
    auto joined = tx.QueryOne(
        "SELECT CAST($2 AS TEXT) || '-' || CAST($1 AS TEXT) || '-' || CAST($2 AS TEXT)", params);
    EXPECT_EQ(joined->Text(0), "two-one-two");
  });
}

TEST_P(SqlTest, PlaceholderLookalikesInsideLiteralsAreUntouched) {
  db().Write([&](Tx& tx) {
    tx.Query("INSERT INTO triples (a, b, c) VALUES ('$1', $1, 'it''s $2 or ?1')",
             {std::string("x")});
  });
  db().Read([&](Tx& tx) {
    auto row =
        tx.QueryOne("SELECT a, b, c FROM triples WHERE a = '$1' AND b = $1", {std::string("x")});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->Text(0), "$1");
    EXPECT_EQ(row->Text(1), "x");
    EXPECT_EQ(row->Text(2), "it's $2 or ?1");
  });
}

// Number of code points of valid UTF-8.
std::int64_t CodePoints(const std::string& s) {
  return std::count_if(s.begin(), s.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

TEST_P(SqlTest, UnicodeRoundTripsAndSortsByteWise) {
  const std::vector<std::string> texts = {
      "plain ascii",
      "h\xC3\xA9llo w\xC3\xB6rld",                            // héllo wörld
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",                 // 日本語
      "\xF0\x9F\x9A\x80 \xF0\x9F\x8E\x89",                    // rocket, party (4-byte)
      "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D",                     // shalom (RTL)
      "e\xCC\x81 combining, \xE2\x80\x8D zwj, \xC2\xA0nbsp",  // combining, ZWJ, NBSP
      "Zebra",
      "apple",
      "\xC3\x84pfel",  // Äpfel
  };
  db().Write([&](Tx& tx) {
    for (std::size_t k = 0; k < texts.size(); ++k) {
      InsertItem(tx, static_cast<std::int64_t>(k), kNull, kNull, texts[k]);
    }
  });
  db().Read([&](Tx& tx) {
    for (std::size_t k = 0; k < texts.size(); ++k) {
      auto row = tx.QueryOne("SELECT s, length(s) FROM items WHERE id = $1",
                             {static_cast<std::int64_t>(k)});
      ASSERT_TRUE(row);
      EXPECT_EQ(row->Text(0), texts[k]);
      EXPECT_EQ(row->Int(1), CodePoints(texts[k])) << texts[k];
      auto by_text = tx.QueryOne("SELECT id FROM items WHERE s = $1", {texts[k]});
      ASSERT_TRUE(by_text);
      EXPECT_EQ(by_text->Int(0), static_cast<std::int64_t>(k));
    }
    std::vector<std::string> sorted = texts;
    std::sort(sorted.begin(), sorted.end());  // byte-wise, as SQLite's BINARY collation
    Result ordered = tx.Query("SELECT s FROM items ORDER BY s");
    ASSERT_EQ(ordered.rows.size(), sorted.size());
    for (std::size_t k = 0; k < sorted.size(); ++k) EXPECT_EQ(ordered.rows[k].Text(0), sorted[k]);
  });
}

TEST_P(SqlTest, LargeTextRoundTrips) {
  std::string big;
  big.reserve(1 << 20);
  std::uint32_t x = 12345;
  while (big.size() < (1u << 20) - 4) {
    x = x * 1103515245u + 12345u;
    if (x % 97 == 0) {
      big += "\xE2\x82\xAC";  // €
    } else {
      big.push_back(static_cast<char>(' ' + (x >> 16) % 95));
    }
  }
  db().Write([&](Tx& tx) { InsertItem(tx, 1, kNull, kNull, big); });
  db().Read([&](Tx& tx) {
    auto row = tx.QueryOne("SELECT s, length(s) FROM items WHERE s = $1", {big});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->Text(0).size(), big.size());
    EXPECT_TRUE(row->Text(0) == big);
    EXPECT_EQ(row->Int(1), CodePoints(big));
  });
}

TEST_P(SqlTest, QueryOneGivesFirstRowOrNothing) {
  db().Read([&](Tx& tx) {
    EXPECT_EQ(tx.QueryOne("SELECT id FROM items WHERE id = $1", {std::int64_t{1}}), std::nullopt);
    Result empty = tx.Query("SELECT id FROM items");
    EXPECT_TRUE(empty.empty());
  });
  db().Write([&](Tx& tx) {
    InsertItem(tx, 2);
    InsertItem(tx, 1);
  });
  db().Read([&](Tx& tx) { EXPECT_EQ(tx.QueryOne("SELECT id FROM items ORDER BY id")->Int(0), 1); });
}

TEST_P(SqlTest, ExecScriptRunsSeveralStatements) {
  db().ExecScript(
      "CREATE TABLE a (x BIGINT);\n"
      "INSERT INTO a (x) VALUES (1);\n"
      "INSERT INTO a (x) VALUES (2);\n");
  EXPECT_EQ(Count("a"), 2);
  EXPECT_THROW(db().ExecScript("CREATE TABLE a (x BIGINT)"), DbError);
  EXPECT_THROW(db().ExecScript("NOT SQL AT ALL"), DbError);
}

TEST_P(SqlTest, CachedStatementsSeeSchemaChanges) {
  db().ExecScript("CREATE TABLE shape (x BIGINT)");
  db().Write([&](Tx& tx) { tx.Query("INSERT INTO shape (x) VALUES (1)"); });
  const char* all = "SELECT * FROM shape";
  EXPECT_EQ(db().Read([&](Tx& tx) { return tx.QueryOne(all)->size(); }), 1u);
  db().ExecScript("ALTER TABLE shape ADD COLUMN y TEXT");
  EXPECT_EQ(db().Read([&](Tx& tx) { return tx.QueryOne(all)->size(); }), 2u);
  // Schema changes made in a transaction (as migrations do) too.
  db().Write([&](Tx& tx) { tx.Query("ALTER TABLE shape ADD COLUMN z TEXT"); });
  EXPECT_EQ(db().Read([&](Tx& tx) { return tx.QueryOne(all)->size(); }), 3u);
  EXPECT_EQ(db().Write([&](Tx& tx) { return tx.QueryOne(all)->size(); }), 3u);
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(SqlTest);

// What only the PostgreSQL engine does.
class PostgresTest : public SqlTest {};

TEST_P(PostgresTest, ASwallowedStatementErrorStillRollsBack) {
  // PostgreSQL refuses the rest of a transaction after a failed statement;
  // the engine reports that rather than let COMMIT silently roll back.
  EXPECT_THROW(db().Write([&](Tx& tx) {
    InsertItem(tx, 1);
    try {
      InsertItem(tx, 1);
    } catch (const UniqueViolation&) {
    }
  }),
               DbError);
  EXPECT_EQ(Count("items"), 0);
}

TEST_P(PostgresTest, AffectedIsZeroForSelects) {
  db().Write([&](Tx& tx) {
    InsertItem(tx, 1);
    EXPECT_EQ(tx.Query("SELECT id FROM items").affected, 0);
  });
}

TEST_P(PostgresTest, TextWithNulByteIsRefused) {
  EXPECT_THROW(db().Write([&](Tx& tx) { InsertItem(tx, 1, kNull, kNull, std::string("a\0b", 3)); }),
               DbError);
}

TEST_P(PostgresTest, RecoversFromTerminatedConnections) {
  // Its own backend killed mid-transaction: that transaction fails...
  EXPECT_THROW(
      db().Write([&](Tx& tx) { tx.Query("SELECT pg_terminate_backend(pg_backend_pid())"); }),
      DbError);
  // ...and the next one gets a new connection.
  db().Write([&](Tx& tx) { InsertItem(tx, 1); });

  // Open four pooled connections, then kill all the others from one.
  auto use_four_at_once = [&] {
    std::latch all_in(4);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        bool arrived = false;
        try {
          db().Read([&](Tx& tx) {
            arrived = true;
            all_in.arrive_and_wait();
            tx.Query("SELECT COUNT(*) FROM items");
          });
        } catch (const std::exception&) {
          ++failures;
          if (!arrived) all_in.count_down();  // so that the others do not wait forever
        }
      });
    }
    for (auto& th : threads) th.join();
    return failures.load();
  };
  ASSERT_EQ(use_four_at_once(), 0);
  std::int64_t killed = db().Write([&](Tx& tx) {
    Result r = tx.Query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    return static_cast<std::int64_t>(r.rows.size());
  });
  EXPECT_GE(killed, 3);
  // Idle connections are found dead at BEGIN and replaced transparently.
  EXPECT_EQ(use_four_at_once(), 0);
  EXPECT_EQ(Count("items"), 1);
}

// A read's COMMIT goes out without its caller waiting for the reply, which
// the connection's next user reads. The transaction still ends on the
// server at once (no connection is left idle in a transaction, holding a
// snapshot), and the connection goes on serving reads, writes and failures.
TEST_P(PostgresTest, AReadsCommitIsSentAndItsReplyReadByTheNextUser) {
  auto server = testutil::PostgresTestServer();
  ASSERT_TRUE(server);
  auto one = OpenPostgres(
      {.conninfo = testutil::WithDatabase(*server, scratch().location()), .pool_size = 1});
  auto my_pid = [&] {
    return one->Read([&](Tx& tx) { return tx.QueryOne("SELECT pg_backend_pid()")->Int(0); });
  };
  const std::int64_t pid = my_pid();
  // Seen from another connection: the read's backend is idle, not in a
  // transaction (the server may take a moment to process the COMMIT).
  std::string state;
  for (int i = 0; i < 200; ++i) {
    state = db().Read([&](Tx& tx) {
      auto r = tx.QueryOne("SELECT state FROM pg_stat_activity WHERE pid = $1", {pid});
      return r ? r->Text(0) : std::string("gone");
    });
    if (state == "idle") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(state, "idle");
  // The same connection (pool of one) goes on.
  EXPECT_EQ(my_pid(), pid);
  one->Write([&](Tx& tx) { InsertItem(tx, 1); });
  EXPECT_THROW(one->Read([&](Tx& tx) { tx.Query("SELECT no_such_column FROM items"); }), DbError);
  EXPECT_EQ(one->Read([&](Tx& tx) { return tx.QueryOne("SELECT COUNT(*) FROM items")->Int(0); }),
            1);
  // A connection whose server went away after a read is replaced.
  db().Write([&](Tx& tx) { tx.Query("SELECT pg_terminate_backend($1)", {my_pid()}); });
  EXPECT_EQ(one->Read([&](Tx& tx) { return tx.QueryOne("SELECT COUNT(*) FROM items")->Int(0); }),
            1);
}

// ReadLatest runs each statement in a transaction of its own (no BEGIN,
// no COMMIT): a later statement sees a row committed after an earlier one,
// where Read's snapshot would not; a failed statement leaves the connection
// usable; and a connection found dead is replaced, the statement retried.
TEST_P(PostgresTest, ReadLatestRunsEachStatementOnItsOwn) {
  auto server = testutil::PostgresTestServer();
  ASSERT_TRUE(server);
  auto one = OpenPostgres(
      {.conninfo = testutil::WithDatabase(*server, scratch().location()), .pool_size = 1});
  db().Write([&](Tx& tx) { InsertItem(tx, 1); });
  const char* count = "SELECT COUNT(*) FROM items";
  one->ReadLatest([&](Tx& tx) {
    EXPECT_EQ(tx.QueryOne(count)->Int(0), 1);
    db().Write([&](Tx& w) { InsertItem(w, 2); });
    EXPECT_EQ(tx.QueryOne(count)->Int(0), 2);  // committed meanwhile, and seen
    // Outside any transaction block: each statement is its own.
    EXPECT_THROW(tx.Query("SAVEPOINT s"), DbError);
    EXPECT_EQ(tx.QueryOne(count)->Int(0), 2);  // that failure ended nothing
  });
  const std::int64_t pid =
      one->ReadLatest([&](Tx& tx) { return tx.QueryOne("SELECT pg_backend_pid()")->Int(0); });
  EXPECT_THROW(one->ReadLatest([&](Tx& tx) { tx.Query("SELECT no_such_column FROM items"); }),
               DbError);
  // The same connection (pool of one) goes on, for reads and writes.
  EXPECT_EQ(one->ReadLatest([&](Tx& tx) { return tx.QueryOne("SELECT pg_backend_pid()")->Int(0); }),
            pid);
  one->Write([&](Tx& tx) { InsertItem(tx, 3); });
  EXPECT_EQ(one->Read([&](Tx& tx) { return tx.QueryOne(count)->Int(0); }), 3);
  // Its server went away while it was idle: replaced, nothing lost.
  db().Write([&](Tx& tx) { tx.Query("SELECT pg_terminate_backend($1)", {pid}); });
  EXPECT_EQ(one->ReadLatest([&](Tx& tx) { return tx.QueryOne(count)->Int(0); }), 3);
  EXPECT_NE(one->ReadLatest([&](Tx& tx) { return tx.QueryOne("SELECT pg_backend_pid()")->Int(0); }),
            pid);
}

TEST_P(PostgresTest, PoolBlocksUntilAConnectionIsFree) {
  auto server = testutil::PostgresTestServer();
  ASSERT_TRUE(server);
  auto one = OpenPostgres(
      {.conninfo = testutil::WithDatabase(*server, scratch().location()), .pool_size = 1});
  std::latch holding(1);
  std::atomic<bool> released{false};
  std::thread holder([&] {
    one->Write([&](Tx& tx) {
      InsertItem(tx, 1);
      holding.count_down();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      released = true;
    });
  });
  holding.wait();
  // Waits for the holder's connection, then sees its committed row.
  bool was_released = false;
  std::int64_t n = one->Read([&](Tx& tx) {
    was_released = released.load();
    return tx.QueryOne("SELECT COUNT(*) FROM items")->Int(0);
  });
  holder.join();
  EXPECT_TRUE(was_released);
  EXPECT_EQ(n, 1);
}

VIGIE_INSTANTIATE_POSTGRES_TEST_SUITE(PostgresTest);

// Every write runs under a savepoint, so SQLite keeps the original of each
// page it first changes in a sub-journal: in memory, not a temporary file
// written with pwrite on the serial writer's path.
TEST(SqliteWriterTest, KeepsItsSubJournalsInMemory) {
  auto db = OpenSqlite({.path = ":memory:"});
  db->Write([&](Tx& tx) { EXPECT_EQ(tx.QueryOne("PRAGMA temp_store")->Int(0), 2); });
}

// Checkpoints run on the checkpointer thread, and the WAL still starts
// over: under a stream of commits it stays a few times the checkpoint mark
// (4 MiB) rather than growing with everything written.
TEST(SqliteCheckpointTest, TheWalIsCheckpointedBesideTheWriterAndStaysBounded) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("vigie_ckpt_" + testutil::RandomSuffix() + ".db"))
          .string();
  {
    auto db = OpenSqlite({.path = path, .readers = 2, .synchronous = "NORMAL"});
    db->ExecScript("CREATE TABLE blobs (id BIGINT PRIMARY KEY, b TEXT)");
    EXPECT_EQ(SqliteCheckpoints(*db), 0u);
    const std::string blob(8000, 'b');
    constexpr std::int64_t kRows = 2500;  // about 30 MB of WAL frames
    for (std::int64_t i = 0; i < kRows; ++i) {
      db->Write([&](Tx& tx) { tx.Query("INSERT INTO blobs (id, b) VALUES ($1, $2)", {i, blob}); });
    }
    EXPECT_GT(SqliteCheckpoints(*db), 0u);
    std::error_code ec;
    const auto wal = std::filesystem::file_size(path + "-wal", ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_LT(wal, std::uintmax_t{20} << 20) << wal;
    EXPECT_EQ(db->Read([](Tx& tx) { return tx.QueryOne("SELECT COUNT(*) FROM blobs")->Int(0); }),
              kRows);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    std::filesystem::remove(path + suffix, ec);
  }
}

// Chunks cover the range once, in order, each at most n long; random-access
// and node-based containers alike.
TEST(ForEachChunkTest, CoversTheRangeInOrderInChunksOfAtMostN) {
  std::vector<int> v(1001);
  for (int i = 0; i < 1001; ++i) v[i] = i;
  std::vector<std::size_t> sizes;
  std::vector<int> seen;
  ForEachChunk(v, 500, [&](auto first, auto last) {
    sizes.push_back(static_cast<std::size_t>(last - first));
    seen.insert(seen.end(), first, last);
  });
  EXPECT_EQ(sizes, (std::vector<std::size_t>{500, 500, 1}));
  EXPECT_EQ(seen, v);

  std::set<int> s(v.begin(), v.begin() + 400);
  sizes.clear();
  seen.clear();
  ForEachChunk(s, 200, [&](auto first, auto last) {
    sizes.push_back(static_cast<std::size_t>(std::distance(first, last)));
    seen.insert(seen.end(), first, last);
  });
  EXPECT_EQ(sizes, (std::vector<std::size_t>{200, 200}));
  EXPECT_EQ(seen, std::vector<int>(v.begin(), v.begin() + 400));

  int calls = 0;
  ForEachChunk(std::vector<int>{}, 10, [&](auto, auto) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(PostgresOpenTest, BadServerThrowsWithoutLeakingThePassword) {
  try {
    OpenPostgres(
        {.conninfo = "postgresql://someone:s3cretpw@127.0.0.1:1/nothing?connect_timeout=5"});
    FAIL() << "connected to port 1";
  } catch (const DbError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cretpw"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vigie::sql
