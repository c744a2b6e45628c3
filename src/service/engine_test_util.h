// A service-test fixture run once per database engine: a Homeserver on a
// scratch SQLite file, and one on a scratch PostgreSQL database (skipped
// unless VIGIE_TEST_PG names a server; see storage/storage_test_util.h).
// With helpers to make users, rooms and messages.
//
//   class HistoryTest : public EngineHomeserverTest {};
//   TEST_P(HistoryTest, X) { auto alice = Register("alice"); ... }
//   VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(HistoryTest);
#pragma once

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <functional>

#include "service/service_test_util.h"
#include "storage/storage_test_util.h"

namespace vigie::service {

class EngineHomeserverTest : public sql::testutil::EngineTest {
 protected:
  void SetUp() override {
    sql::testutil::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    crypto::Init();
    data_dir_ =
        std::filesystem::temp_directory_path() / ("vigie_hs_" + sql::testutil::RandomSuffix());
    hs_ = std::make_unique<Homeserver>(EngineConfig());
  }
  // TestConfig() on this test's engine, database and data_dir.
  Config EngineConfig() {
    Config c = TestConfig();
    c.data_dir = data_dir_.string();
    if (is_postgres()) {
      c.db_engine = "postgres";
      c.postgres_uri =
          sql::testutil::WithDatabase(*sql::testutil::PostgresTestServer(), scratch().location());
      c.postgres_pool = 4;
    } else {
      c.sqlite_path = scratch().location();  // absolute: used as is
      c.sqlite_synchronous = "NORMAL";
    }
    return c;
  }
  // Stops the Homeserver and starts a new one on the same database and
  // data_dir, with EngineConfig() changed by `change`: a restart, or a
  // restart with another configuration.
  void RestartHomeserver(const std::function<void(Config&)>& change = {}) {
    hs_.reset();
    Config c = EngineConfig();
    if (change) change(c);
    hs_ = std::make_unique<Homeserver>(std::move(c));
  }
  void TearDown() override {
    hs_.reset();  // before the database goes
    sql::testutil::EngineTest::TearDown();
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }

  Requester Register(const std::string& name, bool admin = false) {
    hs_->RunSync(hs_->accounts.CreateUser(name, "password1", admin, "t"));
    LoginRequest r;
    r.user = name;
    r.password = "password1";
    auto s = hs_->RunSync(hs_->accounts.Login(r));
    return hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "t"));
  }
  std::string CreateRoom(const Requester& who, CreateRoomOptions o = {}) {
    return hs_->RunSync(hs_->rooms.CreateRoom(who, std::move(o))).room_id;
  }
  void Join(const Requester& who, const std::string& room) {
    hs_->RunSync(hs_->rooms.Join(who, room, std::nullopt));
  }
  std::string Send(const Requester& who, const std::string& room, const std::string& type,
                   boost::json::object content) {
    return hs_->RunSync(
        hs_->rooms.Send(who, room, type, std::move(content), "t" + std::to_string(++txn_)));
  }
  std::string Say(const Requester& who, const std::string& room, const std::string& body) {
    return Send(who, room, "m.room.message", {{"msgtype", "m.text"}, {"body", body}});
  }
  static std::string Body(const storage::EventRecord& e) {
    auto v = boost::json::parse(e.json);
    auto* b = v.at("content").as_object().if_contains("body");
    return b && b->is_string() ? std::string(b->as_string()) : "";
  }
  ErrorCode CodeOf(const std::function<void()>& f) { return ErrorOf(f).code(); }

  std::filesystem::path data_dir_;
  std::unique_ptr<Homeserver> hs_;
  int txn_ = 0;
};

}  // namespace vigie::service
