#include "service/geoip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace vigie::service {
namespace {

namespace fs = std::filesystem;

// The default test database of tests/integration/mmdb_writer.py, written
// once for the suite into a temporary directory.
class GeoIpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("vigie_geoip_test_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    if (std::system("python3 --version > /dev/null 2>&1") != 0) return;
    fs::path writer = fs::path(__FILE__).parent_path().parent_path().parent_path() / "tests" /
                      "integration" / "mmdb_writer.py";
    fs::path db = *dir_ / "test.mmdb";
    std::string cmd = "python3 '" + writer.string() + "' '" + db.string() + "'";
    if (std::system(cmd.c_str()) == 0) db_ = new std::string(db.string());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
    delete db_;
    dir_ = nullptr;
    db_ = nullptr;
  }
  void SetUp() override {
    if (!db_) GTEST_SKIP() << "python3 or tests/integration/mmdb_writer.py unavailable";
  }
  static fs::path* dir_;
  static std::string* db_;  // null when the database could not be written
};

fs::path* GeoIpTest::dir_ = nullptr;
std::string* GeoIpTest::db_ = nullptr;

// Runs a Python script that has `import mmdb_writer` available and writes
// an MMDB at the path in OUT. Returns that path, or "" when it failed.
std::string WriteDatabase(const fs::path& dir, const std::string& name, const std::string& body) {
  fs::path writer_dir =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "tests" / "integration";
  fs::path script = dir / (name + ".py");
  fs::path db = dir / (name + ".mmdb");
  {
    std::ofstream out(script);
    out << "import sys\nsys.path.insert(0, " << writer_dir << ")\n"
        << "from mmdb_writer import *\nOUT = " << db << "\n"
        << body;
  }
  std::string cmd = "python3 '" + script.string() + "'";
  return std::system(cmd.c_str()) == 0 ? db.string() : "";
}

TEST_F(GeoIpTest, FindsCityCountryAndAsn) {
  GeoIp geo(*db_);
  ASSERT_TRUE(geo.enabled());
  auto paris = geo.Lookup("127.1.2.3");
  ASSERT_TRUE(paris);
  EXPECT_EQ(paris->country, "FR");
  EXPECT_TRUE(paris->has_location);
  EXPECT_NEAR(paris->lat, 48.8566, 1e-9);
  EXPECT_NEAR(paris->lon, 2.3522, 1e-9);
  EXPECT_EQ(paris->asn, 64500);
  EXPECT_FALSE(paris->anonymizer);

  auto sydney = geo.Lookup("127.2.0.9");
  ASSERT_TRUE(sydney);
  EXPECT_EQ(sydney->country, "AU");
  EXPECT_NEAR(sydney->lat, -33.8688, 1e-9);
  EXPECT_NEAR(sydney->lon, 151.2093, 1e-9);
  EXPECT_FALSE(sydney->anonymizer);

  auto lyon = geo.Lookup("127.3.255.255");
  ASSERT_TRUE(lyon);
  EXPECT_EQ(lyon->country, "FR");
  EXPECT_NEAR(lyon->lat, 45.764, 1e-9);
}

TEST_F(GeoIpTest, FlagsAnonymisers) {
  GeoIp geo(*db_);
  auto vpn = geo.Lookup("127.4.0.1");
  ASSERT_TRUE(vpn);
  EXPECT_TRUE(vpn->anonymizer);
  EXPECT_EQ(vpn->country, "NL");
}

TEST_F(GeoIpTest, IPv4MappedAndIPv6Forms) {
  GeoIp geo(*db_);
  auto mapped = geo.Lookup("::ffff:127.1.2.3");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->country, "FR");
  auto upper = geo.Lookup("::FFFF:127.2.0.1");
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->country, "AU");
  EXPECT_FALSE(geo.Lookup("2001:db8::1"));
}

TEST_F(GeoIpTest, UnknownAndMalformedAddressesGiveNothing) {
  GeoIp geo(*db_);
  EXPECT_FALSE(geo.Lookup("10.0.0.1"));
  EXPECT_FALSE(geo.Lookup("127.5.0.1"));
  EXPECT_FALSE(geo.Lookup("not-an-ip"));
  EXPECT_FALSE(geo.Lookup(""));
  EXPECT_FALSE(geo.Lookup("localhost"));
  EXPECT_FALSE(geo.Lookup("cafe"));
  EXPECT_FALSE(geo.Lookup("127.1.2.3 "));
  EXPECT_FALSE(geo.Lookup(std::string_view("127.1.2.3\0x", 11)));
  EXPECT_FALSE(geo.Lookup("300.1.2.3"));
  EXPECT_FALSE(geo.Lookup(std::string(1000, '1')));
  EXPECT_FALSE(geo.Lookup("fe80::1%eth0"));
}

TEST_F(GeoIpTest, ConcurrentLookups) {
  GeoIp geo(*db_);
  std::vector<std::thread> threads;
  std::vector<int> found(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&geo, &found, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string ip = "127." + std::to_string(1 + (i + t) % 5) + ".0." + std::to_string(i % 256);
        if (geo.Lookup(ip)) ++found[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : found) EXPECT_EQ(n, 1600);  // 127.5/16 is not in the database
}

// Operator-supplied databases may hold any type anywhere: fields of the
// wrong type read as absent, and nothing else about the record is lost.
TEST_F(GeoIpTest, IllTypedFieldsReadAsAbsent) {
  std::string path = WriteDatabase(*dir_, "odd", R"(
write_mmdb(OUT, [
  ("10.1.0.0/16", {"country": {"iso_code": 33},
                   "location": {"latitude": "48.8", "longitude": 2.35},
                   "autonomous_system_number": -5,
                   "traits": {"is_anonymous_vpn": "true", "is_anonymous": 1,
                              "is_tor_exit_node": False}}),
  ("10.2.0.0/16", {"country": "FR", "location": [1.0, 2.0], "traits": True,
                   "autonomous_system_number": {"n": 1}}),
  ("10.3.0.0/16", "just a string"),
  ("10.4.0.0/16", {"country": {"iso_code": "FRA"},
                   "location": {"latitude": 91.0, "longitude": 0.0},
                   "autonomous_system_number": Uint64(2**63)}),
  ("10.5.0.0/16", {"country": {"iso_code": "F1"},
                   "location": {"latitude": float("nan"), "longitude": 0.0},
                   "autonomous_system_number": Uint128(5)}),
  ("10.6.0.0/16", {"location": {"latitude": Float32(10.5), "longitude": Float32(-20.25)},
                   "autonomous_system_number": Uint16(13335),
                   "traits": {"is_tor_exit_node": True}}),
  ("10.6.7.0/24", {"country": {"iso_code": "de"}, "autonomous_system_number": Int32(7)}),
], ip_version=4, record_size=28)
)");
  ASSERT_FALSE(path.empty());
  GeoIp geo(path);
  for (const char* ip : {"10.1.0.1", "10.2.0.1", "10.3.0.1", "10.4.0.1", "10.5.0.1"}) {
    SCOPED_TRACE(ip);
    auto fix = geo.Lookup(ip);
    ASSERT_TRUE(fix);  // the address is in the database, its fields are not usable
    EXPECT_FALSE(fix->country);
    EXPECT_FALSE(fix->has_location);
    EXPECT_EQ(fix->lat, 0);
    EXPECT_FALSE(fix->asn);
    EXPECT_FALSE(fix->anonymizer);
  }
  auto tor = geo.Lookup("10.6.0.1");
  ASSERT_TRUE(tor);
  EXPECT_TRUE(tor->has_location);
  EXPECT_EQ(tor->lat, 10.5);
  EXPECT_EQ(tor->lon, -20.25);
  EXPECT_EQ(tor->asn, 13335);
  EXPECT_TRUE(tor->anonymizer);
  auto inner = geo.Lookup("10.6.7.8");  // the more specific network wins
  ASSERT_TRUE(inner);
  EXPECT_EQ(inner->country, "de");
  EXPECT_EQ(inner->asn, 7);
  EXPECT_FALSE(inner->has_location);
  EXPECT_TRUE(geo.Lookup("::ffff:10.6.7.8"));  // IPv4-mapped, IPv4-only database
  EXPECT_FALSE(geo.Lookup("2001:db8::1"));     // IPv6 in an IPv4-only database
  EXPECT_FALSE(geo.Lookup("10.7.0.1"));
}

TEST(GeoIp, DisabledLooksUpNothing) {
  GeoIp geo("");
  EXPECT_FALSE(geo.enabled());
  EXPECT_FALSE(geo.Lookup("127.1.2.3"));
  EXPECT_FALSE(geo.Lookup("not-an-ip"));
}

TEST(GeoIp, UnreadableDatabasesThrowNamingTheFile) {
  fs::path dir = fs::temp_directory_path() / ("vigie_geoip_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path missing = dir / "missing.mmdb";
  try {
    GeoIp geo(missing.string());
    ADD_FAILURE() << "opening a missing file did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  fs::path garbage = dir / "garbage.mmdb";
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 131) & 0xff));
  }
  EXPECT_THROW(GeoIp(garbage.string()), std::runtime_error);
  fs::path empty = dir / "empty.mmdb";
  std::ofstream(empty).close();
  EXPECT_THROW(GeoIp(empty.string()), std::runtime_error);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace vigie::service
