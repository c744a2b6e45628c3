#include "service/sync_service.h"

#include <gtest/gtest.h>

#include "service/service_test_util.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;

// Filters named by /sync and /messages: parsed once per definition and
// shared, whoever names it and however (inline or stored).
class SyncFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    alice_ = RegisterAndLogin(*hs_, "alice");
    bob_ = RegisterAndLogin(*hs_, "bob");
  }
  std::shared_ptr<const Filter> Resolve(const Requester& who, std::optional<std::string> p) {
    return hs_->RunSync(hs_->sync.ResolveFilter(who, p));
  }
  std::string Store(const Requester& who, const bj::object& definition) {
    return hs_->RunSync(hs_->sync.CreateFilter(who, definition));
  }

  std::unique_ptr<Homeserver> hs_;
  Requester alice_, bob_;
};

TEST_F(SyncFilterTest, OneDefinitionIsParsedOnceForEveryone) {
  const std::string ten = R"({"room":{"timeline":{"limit":10}}})";
  const std::string five = R"({"room":{"timeline":{"limit":5}}})";
  auto a = Resolve(alice_, ten);
  auto b = Resolve(bob_, ten);
  auto c = Resolve(alice_, five);
  EXPECT_EQ(a.get(), b.get());  // the same text: one Filter
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(a->room.timeline.limit, 10);
  EXPECT_EQ(c->room.timeline.limit, 5);
  EXPECT_EQ(hs_->sync.SharedFilters(), 2u);

  // Stored filters: each user's id names their own row, and the same
  // definition is one Filter for both.
  const bj::object lazy = {{"room", {{"state", {{"lazy_load_members", true}}}}}};
  const std::string ida = Store(alice_, lazy);
  const std::string idb = Store(bob_, lazy);
  auto sa = Resolve(alice_, ida);
  auto sb = Resolve(bob_, idb);
  EXPECT_EQ(sa.get(), sb.get());
  EXPECT_TRUE(sa->room.state.lazy_load_members);
  EXPECT_EQ(Resolve(alice_, ida).get(), sa.get());
  EXPECT_EQ(hs_->sync.SharedFilters(), 3u);
  // A stored filter is still its owner's alone.
  EXPECT_EQ(ErrorOf([&] { Resolve(bob_, ida); }).code(), ErrorCode::kNotFound);
  // No filter, or an empty one: the empty filter, not kept.
  EXPECT_FALSE(Resolve(alice_, std::nullopt)->room.timeline.limit);
  EXPECT_FALSE(Resolve(alice_, std::string())->room.timeline.limit);
  EXPECT_EQ(hs_->sync.SharedFilters(), 3u);
}

TEST_F(SyncFilterTest, BadInlineFiltersAreRefusedAndNotKept) {
  EXPECT_EQ(ErrorOf([&] { Resolve(alice_, "{not json"); }).code(), ErrorCode::kNotJson);
  EXPECT_EQ(ErrorOf([&] { Resolve(alice_, R"({"room":{"timeline":{"limit":"x"}}})"); }).code(),
            ErrorCode::kBadJson);
  EXPECT_EQ(hs_->sync.SharedFilters(), 0u);
}

TEST_F(SyncFilterTest, KeptFiltersAreBoundedInNumberAndBytes) {
  // Anyone may send inline filters, each different: the kept ones stay
  // bounded while every request still gets its own filter right.
  const std::size_t n = 10000 + 10;
  for (std::size_t i = 0; i < n; ++i) {
    auto f = Resolve(alice_, R"({"room":{"timeline":{"limit":)" + std::to_string(i % 1000) +
                                 R"(}},"event_fields":["x)" + std::to_string(i) + R"("]})");
    ASSERT_EQ(f->room.timeline.limit, static_cast<std::int64_t>(i % 1000));
  }
  EXPECT_LE(hs_->sync.SharedFilters(), 10000u);
  // Large definitions (up to the header limit) count by their bytes.
  const std::string pad(12000, 'a');
  for (int i = 0; i < 400; ++i) {
    Resolve(alice_, R"({"event_fields":[")" + pad + std::to_string(i) + R"("]})");
  }
  EXPECT_LE(hs_->sync.SharedFilters(), (4u << 20) / 12000 + 1);
}

}  // namespace
}  // namespace vigie::service
