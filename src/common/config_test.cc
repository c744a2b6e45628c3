#include "common/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace vigie {
namespace {

TEST(Config, DefaultTextParsesToDefaults) {
  Config c = ParseConfig(DefaultConfigText("example.org", "/var/lib/vigie"));
  Config d;
  EXPECT_EQ(c.server_name, "example.org");
  EXPECT_EQ(c.data_dir, "/var/lib/vigie");
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.listen[0].port, 8008);
  EXPECT_EQ(c.registration_mode, "token");
  EXPECT_EQ(c.max_body_bytes, d.max_body_bytes);
  EXPECT_EQ(c.rl_login.per_second, d.rl_login.per_second);
  EXPECT_EQ(c.public_baseurl, "http://127.0.0.1:8008/");
  EXPECT_TRUE(c.metrics_enabled);
  EXPECT_EQ(c.metrics_listen.host, "127.0.0.1");
}

TEST(Config, EmptyFileGivesDefaults) {
  Config c = ParseConfig("");
  EXPECT_EQ(c.db_engine, "sqlite");
  EXPECT_EQ(c.argon2_ops, 3u);
}

TEST(Config, UnknownKeysAndSectionsAreErrors) {
  EXPECT_THROW(ParseConfig("[server]\nserver_nmae = \"x\"\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[serverr]\n"), std::runtime_error);
}

TEST(Config, WrongTypesAreErrors) {
  EXPECT_THROW(ParseConfig("[server]\nio_threads = \"four\"\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[rate_limits]\nper_ip = [1.0]\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("not toml at all ["), std::runtime_error);
}

TEST(Config, ValidatesValues) {
  EXPECT_THROW(ParseConfig("[database]\nengine = \"mysql\"\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[database]\nengine = \"postgres\"\n"), std::runtime_error);
  EXPECT_NO_THROW(
      ParseConfig("[database]\nengine = \"postgres\"\npostgres_uri = \"postgresql://x\"\n"));
  EXPECT_THROW(ParseConfig("[registration]\nmode = \"sometimes\"\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[tls]\nenabled = true\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[limits]\nmax_json_depth = 1\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[server]\nserver_name = \"a b\"\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[server]\nlisten = []\n[server.x]\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[server]\nworker_threads = -1\n"), std::runtime_error);
  EXPECT_EQ(ParseConfig("[server]\nworker_threads = 3\n").worker_threads, 3);
  EXPECT_EQ(ParseConfig(DefaultConfigText("example.org", "/d")).worker_threads, 0);  // per core
  EXPECT_THROW(ParseConfig("[server]\nsync_coalesce_ms = -1\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[server]\nsync_coalesce_ms = 1001\n"), std::runtime_error);
  EXPECT_EQ(ParseConfig("[server]\nsync_coalesce_ms = 0\n").sync_coalesce_ms, 0);
  EXPECT_EQ(ParseConfig(DefaultConfigText("example.org", "/d")).sync_coalesce_ms, 20);
}

TEST(Config, ThreadCountsAreAsConfiguredOrOnePerCore) {
  EXPECT_EQ(ThreadCount(3, 2), 3);
  EXPECT_EQ(ThreadCount(1, 2), 2);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(ThreadCount(0, 1), std::max(1, cores));
  EXPECT_EQ(ThreadCount(0, 64), std::max(64, cores));
}

TEST(Config, GeoIpSection) {
  EXPECT_EQ(ParseConfig("").geoip_database, "");
  EXPECT_EQ(ParseConfig(DefaultConfigText("example.org", "/d")).geoip_database, "");
  Config c = ParseConfig("[geoip]\ndatabase = \"/var/lib/GeoIP/GeoLite2-City.mmdb\"\n");
  EXPECT_EQ(c.geoip_database, "/var/lib/GeoIP/GeoLite2-City.mmdb");
  EXPECT_THROW(ParseConfig("[geoip]\ndatabse = \"x.mmdb\"\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("[geoip]\ndatabase = 1\n"), std::runtime_error);
}

TEST(Config, ListenAddresses) {
  auto v4 = ParseListenAddress("0.0.0.0:443");
  EXPECT_EQ(v4.host, "0.0.0.0");
  EXPECT_EQ(v4.port, 443);
  auto v6 = ParseListenAddress("[::1]:8008");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8008);
  EXPECT_THROW(ParseListenAddress("localhost"), std::runtime_error);
  EXPECT_THROW(ParseListenAddress("h:99999"), std::runtime_error);
  EXPECT_THROW(ParseListenAddress("h:abc"), std::runtime_error);
  Config c = ParseConfig("[server]\nlisten = [\"[::1]:0\"]\n");
  EXPECT_EQ(c.public_baseurl, "http://[::1]:0/");
}

}  // namespace
}  // namespace vigie
