#include "storage/sqlite/wal_vfs.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "storage/sql.h"
#include "storage/storage_test_util.h"

namespace vigie::sql {
namespace {

class WalVfsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::remove(path_ + suffix, ec);
    }
  }
  std::unique_ptr<Database> Open(const std::string& synchronous) {
    return OpenSqlite({.path = path_, .readers = 2, .synchronous = synchronous});
  }

  const std::string path_ = (std::filesystem::temp_directory_path() /
                             ("vigie_walvfs_" + testutil::RandomSuffix() + ".db"))
                                .string();
};

// Write system calls made by this process so far (/proc/self/io).
std::int64_t WriteCalls() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::int64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscw:") return value;
  }
  return -1;
}

// A commit of about 200 pages reaches the WAL in a handful of writes, where
// SQLite alone writes each frame's header and page apart (400 writes).
TEST_F(WalVfsTest, ACommitReachesTheWalInAFewWrites) {
  if (WriteCalls() < 0) GTEST_SKIP() << "no /proc/self/io";
  auto db = Open("NORMAL");
  db->ExecScript("CREATE TABLE rows (id BIGINT PRIMARY KEY, body TEXT)");
  const std::string body(3000, 'x');
  const std::int64_t before = WriteCalls();
  db->Write([&](Tx& tx) {
    for (std::int64_t i = 0; i < 250; ++i) {
      tx.Query("INSERT INTO rows (id, body) VALUES ($1, $2)", {i, body});
    }
  });
  const std::int64_t writes = WriteCalls() - before;
  EXPECT_GE(writes, 1);
  EXPECT_LE(writes, 20);
  EXPECT_EQ(db->Read([](Tx& tx) { return tx.QueryOne("SELECT COUNT(*) FROM rows")->Int(0); }), 250);
}

// Each commit is visible to the readers as soon as it returns, for small
// ones and for ones many times the buffer (written in pieces), and with
// either durability setting; the database stays sound throughout.
TEST_F(WalVfsTest, ReadersSeeEveryCommitOfAnySize) {
  for (const char* synchronous : {"FULL", "NORMAL"}) {
    SCOPED_TRACE(synchronous);
    TearDown();
    auto db = Open(synchronous);
    db->ExecScript("CREATE TABLE rows (id BIGINT PRIMARY KEY, body TEXT)");
    std::int64_t next = 0;
    for (std::size_t size : {std::size_t{10}, kWalBufferBytes - 100, kWalBufferBytes * 3,
                             std::size_t{5} << 20, std::size_t{1}}) {
      const std::string body(size, 'y');
      const std::int64_t id = next++;
      db->Write([&](Tx& tx) {
        tx.Query("INSERT INTO rows (id, body) VALUES ($1, $2)", {id, body});
      });
      EXPECT_EQ(db->Read([&](Tx& tx) {
        return tx.QueryOne("SELECT LENGTH(body) FROM rows WHERE id = $1", {id})->Int(0);
      }),
                static_cast<std::int64_t>(size));
    }
    db->Write([&](Tx& tx) { EXPECT_EQ(tx.QueryOne("PRAGMA integrity_check")->Text(0), "ok"); });
  }
}

// A writer killed with SIGKILL, part-way through a transaction, loses
// nothing it committed: a commit is in the file when SQLite returns it.
TEST_F(WalVfsTest, AKilledWriterLosesNoCommit) {
  int acks[2];
  ASSERT_EQ(pipe(acks), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(acks[0]);
    auto db = Open("NORMAL");
    db->ExecScript("CREATE TABLE rows (id BIGINT PRIMARY KEY, body TEXT)");
    const std::string body(700, 'z');
    for (std::int64_t n = 0;; ++n) {
      db->Write([&](Tx& tx) {
        for (std::int64_t i = 0; i < 40; ++i) {
          tx.Query("INSERT INTO rows (id, body) VALUES ($1, $2)", {n * 40 + i, body});
        }
        if (n == 60) raise(SIGKILL);  // with this transaction's frames half written
      });
      const char ack = 1;
      if (write(acks[1], &ack, 1) != 1) _exit(2);
    }
  }
  close(acks[1]);
  std::int64_t acked = 0;
  char ack = 0;
  ssize_t got = 0;
  while ((got = read(acks[0], &ack, 1)) == 1 || (got < 0 && errno == EINTR)) {
    if (got == 1) ++acked;
  }
  close(acks[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_EQ(acked, 60);

  auto db = Open("NORMAL");
  EXPECT_EQ(db->Read([](Tx& tx) { return tx.QueryOne("SELECT COUNT(*) FROM rows")->Int(0); }),
            acked * 40);
  db->Write([&](Tx& tx) { EXPECT_EQ(tx.QueryOne("PRAGMA integrity_check")->Text(0), "ok"); });
}

}  // namespace
}  // namespace vigie::sql
