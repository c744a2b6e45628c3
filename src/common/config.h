// vigie's configuration, read from a TOML file. Every field has a safe
// default; unknown keys are rejected so that typos do not silently weaken
// a deployment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vigie {

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;  // 0: any free port (tests)
};

struct RateLimit {
  double per_second = 0;  // refill rate; 0 disables this bucket
  double burst = 0;       // bucket size
};

struct Config {
  // [server]
  std::string server_name = "localhost";
  std::vector<ListenAddress> listen = {{"127.0.0.1", 8008}};
  std::string public_baseurl;           // default: http://<first listen address>/
  bool public_baseurl_derived = false;  // true when not set in the file
  int io_threads = 0;                   // 0: one per core
  int worker_threads = 0;  // database and other blocking work; 0: one per core, at least 2
  int max_connections = 20000;
  int memory_trim_interval_s = 30;  // 0: never give freed heap back (common/heap_trimmer.h)
  // A /sync long-poll woken while writes wait behind the batch that woke
  // it waits this long at most for their batch, to answer both at once.
  int sync_coalesce_ms = 20;  // 0: answer at once
  std::string data_dir = "data";

  // [tls]
  bool tls_enabled = false;
  std::string tls_cert;
  std::string tls_key;

  // [database]
  std::string db_engine = "sqlite";      // sqlite | postgres
  std::string sqlite_path = "vigie.db";  // relative to data_dir
  std::string sqlite_synchronous = "FULL";
  std::string postgres_uri;
  int postgres_pool = 8;

  // [limits]
  std::size_t max_body_bytes = 64 * 1024;  // client API requests
  std::size_t max_media_bytes = 50 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_json_depth = 64;
  int header_timeout_s = 20;  // time to receive a request's headers
  int body_timeout_s = 60;    // time to receive a request's body
  int idle_timeout_s = 75;    // keep-alive connection with no request

  // [registration]
  std::string registration_mode = "token";  // token | open | disabled
  std::size_t min_password_length = 8;

  // [passwords]
  std::uint64_t argon2_ops = 3;
  std::uint64_t argon2_mem_kib = 64 * 1024;
  int hash_threads = 2;

  // [rate_limits]
  RateLimit rl_ip{20, 100};     // every request, per client IP
  RateLimit rl_user{20, 100};   // every authenticated request, per user
  RateLimit rl_login{0.5, 10};  // login and registration attempts, per IP
  bool trust_x_forwarded_for = false;

  // [metrics]
  bool metrics_enabled = true;
  ListenAddress metrics_listen{"127.0.0.1", 9108};

  // [logging]
  std::string log_level = "info";
  std::string log_format = "text";  // text | json

  // [cors]
  std::string cors_allow_origin = "*";

  // [media] (the upload size limit is [limits] max_media_bytes)
  std::size_t media_user_quota_bytes = std::size_t{1} << 30;  // sum of a user's uploads
  bool media_allow_unauthenticated_download = false;          // legacy /_matrix/media/v3
  int media_sweep_interval_s = 3600;  // garbage collection of media files; 0: never

  // [geoip] (X.1606 X-AC-1/X-AC-2 location checks)
  std::string geoip_database;  // MaxMind DB (.mmdb) file; empty: GeoIP disabled
};

// Reads and validates a config file. Throws std::runtime_error naming the
// file, key and problem.
Config LoadConfig(const std::string& path);

// Parses TOML text (tests, and LoadConfig).
Config ParseConfig(const std::string& toml_text, const std::string& origin = "config");

// The commented default configuration written at first start.
std::string DefaultConfigText(const std::string& server_name, const std::string& data_dir);

// "host:port" or "[v6]:port".
ListenAddress ParseListenAddress(const std::string& s);

// A thread count as configured (io_threads, worker_threads): itself, or
// one per core when 0; at least `at_least` either way.
int ThreadCount(int configured, int at_least);

}  // namespace vigie
