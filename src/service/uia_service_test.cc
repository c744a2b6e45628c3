#include "service/uia_service.h"

#include <gtest/gtest.h>

#include "service/service_test_util.h"

namespace vigie::service {
namespace {

class UiaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    alice_ =
        hs_->RunSync(hs_->accounts.CreateUser("alice", "correct horse", false, "test")).user_id;
  }
  UiaResult Require(const UiaSpec& spec, const boost::json::object* auth) {
    return hs_->RunSync(hs_->uia.Require(spec, auth));
  }
  std::unique_ptr<Homeserver> hs_;
  std::string alice_;
};

TEST_F(UiaTest, NoAuthGivesFlowsAndSession) {
  UiaSpec spec{"op", {{kStagePassword}}, alice_};
  Error e = ErrorOf([&] { Require(spec, nullptr); });
  ASSERT_EQ(e.code(), ErrorCode::kUiaRequired);
  const auto& body = e.extra();
  EXPECT_EQ(body.at("flows").at(0).at("stages").at(0).as_string(), kStagePassword);
  EXPECT_FALSE(body.at("session").as_string().empty());
  EXPECT_FALSE(body.contains("errcode"));
  EXPECT_FALSE(body.contains("completed"));
}

TEST_F(UiaTest, DummyCompletesWithoutSession) {
  UiaSpec spec{"register", {{kStageDummy}}, std::nullopt};
  boost::json::object auth{{"type", kStageDummy}};
  EXPECT_NO_THROW(Require(spec, &auth));
}

TEST_F(UiaTest, PasswordStage) {
  UiaSpec spec{"op", {{kStagePassword}}, alice_};
  Error first = ErrorOf([&] { Require(spec, nullptr); });
  std::string session(first.extra().at("session").as_string());

  boost::json::object wrong{{"type", kStagePassword},
                            {"session", session},
                            {"identifier", {{"type", "m.id.user"}, {"user", "alice"}}},
                            {"password", "wrong"}};
  Error e = ErrorOf([&] { Require(spec, &wrong); });
  EXPECT_EQ(e.code(), ErrorCode::kUiaRequired);
  EXPECT_EQ(e.extra().at("errcode").as_string(), "M_FORBIDDEN");
  EXPECT_EQ(e.extra().at("session").as_string(), session);

  boost::json::object right = wrong;
  right["password"] = "correct horse";
  EXPECT_NO_THROW(Require(spec, &right));
  // The session is consumed.
  EXPECT_EQ(ErrorOf([&] { Require(spec, &right); }).code(), ErrorCode::kUnknown);
}

TEST_F(UiaTest, PasswordOfAnotherUserIsRefused) {
  hs_->RunSync(hs_->accounts.CreateUser("mallory", "mallory pass", false, "test"));
  UiaSpec spec{"op", {{kStagePassword}}, alice_};
  boost::json::object auth{{"type", kStagePassword},
                           {"identifier", {{"type", "m.id.user"}, {"user", "mallory"}}},
                           {"password", "mallory pass"}};
  Error e = ErrorOf([&] { Require(spec, &auth); });
  EXPECT_EQ(e.code(), ErrorCode::kUiaRequired);
  EXPECT_EQ(e.extra().at("errcode").as_string(), "M_FORBIDDEN");
}

TEST_F(UiaTest, SessionIsBoundToOperationAndUser) {
  UiaSpec a{"delete", {{kStagePassword}}, alice_};
  std::string session(ErrorOf([&] { Require(a, nullptr); }).extra().at("session").as_string());
  UiaSpec b{"deactivate", {{kStagePassword}}, alice_};
  boost::json::object auth{{"type", kStagePassword},
                           {"session", session},
                           {"user", "alice"},
                           {"password", "correct horse"}};
  EXPECT_EQ(ErrorOf([&] { Require(b, &auth); }).code(), ErrorCode::kForbidden);
  UiaSpec c{"delete", {{kStagePassword}}, std::string("@bob:test.local")};
  EXPECT_EQ(ErrorOf([&] { Require(c, &auth); }).code(), ErrorCode::kForbidden);
  // Still usable for what it was started for (legacy top-level "user").
  EXPECT_NO_THROW(Require(a, &auth));
}

TEST_F(UiaTest, UnknownSessionAndUnofferedStage) {
  UiaSpec spec{"op", {{kStagePassword}}, alice_};
  boost::json::object bogus{{"type", kStagePassword}, {"session", "nope"}};
  EXPECT_EQ(ErrorOf([&] { Require(spec, &bogus); }).code(), ErrorCode::kUnknown);
  boost::json::object dummy{{"type", kStageDummy}};
  Error e = ErrorOf([&] { Require(spec, &dummy); });
  EXPECT_EQ(e.code(), ErrorCode::kUiaRequired);
  EXPECT_EQ(e.extra().at("errcode").as_string(), "M_UNRECOGNIZED");
}

TEST_F(UiaTest, RegistrationTokenStage) {
  std::string token = hs_->RunSync(hs_->accounts.CreateRegistrationToken(1, std::nullopt, "t"));
  UiaSpec spec{"register", {{kStageRegistrationToken}}, std::nullopt};
  boost::json::object bad{{"type", kStageRegistrationToken}, {"token", "not-a-token"}};
  Error e = ErrorOf([&] { Require(spec, &bad); });
  EXPECT_EQ(e.extra().at("errcode").as_string(), "M_FORBIDDEN");
  boost::json::object good{{"type", kStageRegistrationToken}, {"token", token}};
  UiaResult r = Require(spec, &good);
  EXPECT_EQ(r.registration_token, token);
}

TEST_F(UiaTest, MultiStageFlowReportsCompleted) {
  std::string token =
      hs_->RunSync(hs_->accounts.CreateRegistrationToken(std::nullopt, std::nullopt, "t"));
  UiaSpec spec{"register", {{kStageRegistrationToken, kStageDummy}}, std::nullopt};
  boost::json::object first{{"type", kStageRegistrationToken}, {"token", token}};
  Error e = ErrorOf([&] { Require(spec, &first); });
  ASSERT_EQ(e.code(), ErrorCode::kUiaRequired);
  EXPECT_EQ(e.extra().at("completed").at(0).as_string(), kStageRegistrationToken);
  boost::json::object second{{"type", kStageDummy}, {"session", e.extra().at("session")}};
  EXPECT_EQ(Require(spec, &second).registration_token, token);
}

}  // namespace
}  // namespace vigie::service
