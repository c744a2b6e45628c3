#include "common/config.h"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <toml.hpp>

#include "common/json.h"

namespace vigie {
namespace {

using Table = toml::value;

[[noreturn]] void Fail(const std::string& origin, const std::string& what) {
  throw std::runtime_error(origin + ": " + what);
}

// Reads the keys of one table, checking for unknown keys.
class Section {
 public:
  Section(const Table& root, const std::string& name, const std::string& origin)
      : name_(name), origin_(origin) {
    if (root.contains(name)) {
      if (!root.at(name).is_table()) Fail(origin, "[" + name + "] must be a table");
      table_ = &root.at(name);
    }
  }
  ~Section() noexcept(false) {
    if (!table_ || std::uncaught_exceptions()) return;
    for (const auto& [k, _] : table_->as_table()) {
      if (!seen_.count(k)) Fail(origin_, "unknown key '" + k + "' in [" + name_ + "]");
    }
  }
  template <typename T>
  void Get(const std::string& key, T& out) {
    seen_.insert(key);
    if (!table_ || !table_->contains(key)) return;
    try {
      out = toml::get<T>(table_->at(key));
    } catch (const std::exception&) {
      Fail(origin_, "[" + name_ + "] " + key + " has the wrong type");
    }
  }

 private:
  const Table* table_ = nullptr;
  std::string name_;
  std::string origin_;
  std::set<std::string> seen_;
};

void GetRate(Section& s, const std::string& key, RateLimit& out) {
  std::vector<double> v;
  s.Get(key, v);
  if (v.empty()) return;
  if (v.size() != 2 || v[0] < 0 || v[1] < 0) {
    throw std::runtime_error("[rate_limits] " + key + " must be [per_second, burst]");
  }
  out = {v[0], v[1]};
}

}  // namespace

int ThreadCount(int configured, int at_least) {
  const int n = configured > 0 ? configured : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(at_least, n);
}

ListenAddress ParseListenAddress(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen address needs a port: " + s);
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  try {
    port = std::stoi(s.substr(colon + 1));
  } catch (const std::exception&) {
    throw std::runtime_error("bad port in listen address: " + s);
  }
  if (port < 0 || port > 65535 || host.empty()) {
    throw std::runtime_error("bad listen address: " + s);
  }
  return {host, static_cast<std::uint16_t>(port)};
}

Config ParseConfig(const std::string& text, const std::string& origin) {
  Table root;
  try {
    std::istringstream in(text);
    root = toml::parse(in, origin);
  } catch (const std::exception& e) {
    Fail(origin, e.what());
  }
  static const std::set<std::string> kSections = {
      "server",      "tls",     "database", "limits", "registration", "passwords",
      "rate_limits", "metrics", "logging",  "cors",   "media",        "geoip"};
  for (const auto& [k, _] : root.as_table()) {
    if (!kSections.count(k)) Fail(origin, "unknown section [" + k + "]");
  }
  Config c;
  {
    Section s(root, "server", origin);
    s.Get("server_name", c.server_name);
    std::vector<std::string> listen;
    s.Get("listen", listen);
    if (!listen.empty()) {
      c.listen.clear();
      for (const auto& l : listen) c.listen.push_back(ParseListenAddress(l));
    }
    s.Get("public_baseurl", c.public_baseurl);
    s.Get("io_threads", c.io_threads);
    s.Get("worker_threads", c.worker_threads);
    s.Get("max_connections", c.max_connections);
    s.Get("memory_trim_interval_s", c.memory_trim_interval_s);
    s.Get("sync_coalesce_ms", c.sync_coalesce_ms);
    s.Get("data_dir", c.data_dir);
  }
  {
    Section s(root, "tls", origin);
    s.Get("enabled", c.tls_enabled);
    s.Get("certificate", c.tls_cert);
    s.Get("private_key", c.tls_key);
  }
  {
    Section s(root, "database", origin);
    s.Get("engine", c.db_engine);
    s.Get("sqlite_path", c.sqlite_path);
    s.Get("sqlite_synchronous", c.sqlite_synchronous);
    s.Get("postgres_uri", c.postgres_uri);
    s.Get("postgres_pool", c.postgres_pool);
  }
  {
    Section s(root, "limits", origin);
    s.Get("max_body_bytes", c.max_body_bytes);
    s.Get("max_media_bytes", c.max_media_bytes);
    s.Get("max_header_bytes", c.max_header_bytes);
    s.Get("max_json_depth", c.max_json_depth);
    s.Get("header_timeout_s", c.header_timeout_s);
    s.Get("body_timeout_s", c.body_timeout_s);
    s.Get("idle_timeout_s", c.idle_timeout_s);
  }
  {
    Section s(root, "registration", origin);
    s.Get("mode", c.registration_mode);
    s.Get("min_password_length", c.min_password_length);
  }
  {
    Section s(root, "passwords", origin);
    s.Get("argon2_ops", c.argon2_ops);
    s.Get("argon2_mem_kib", c.argon2_mem_kib);
    s.Get("hash_threads", c.hash_threads);
  }
  {
    Section s(root, "rate_limits", origin);
    GetRate(s, "per_ip", c.rl_ip);
    GetRate(s, "per_user", c.rl_user);
    GetRate(s, "login_per_ip", c.rl_login);
    s.Get("trust_x_forwarded_for", c.trust_x_forwarded_for);
  }
  {
    Section s(root, "metrics", origin);
    s.Get("enabled", c.metrics_enabled);
    std::string l;
    s.Get("listen", l);
    if (!l.empty()) c.metrics_listen = ParseListenAddress(l);
  }
  {
    Section s(root, "logging", origin);
    s.Get("level", c.log_level);
    s.Get("format", c.log_format);
  }
  {
    Section s(root, "cors", origin);
    s.Get("allow_origin", c.cors_allow_origin);
  }
  {
    Section s(root, "media", origin);
    s.Get("user_quota_bytes", c.media_user_quota_bytes);
    s.Get("allow_unauthenticated_download", c.media_allow_unauthenticated_download);
    s.Get("sweep_interval_s", c.media_sweep_interval_s);
  }
  {
    Section s(root, "geoip", origin);
    s.Get("database", c.geoip_database);
  }

  // Validation.
  if (c.server_name.empty() || c.server_name.size() > 230 ||
      c.server_name.find_first_of(" /@!#$?&\"'") != std::string::npos) {
    Fail(origin, "[server] server_name is not a valid server name");
  }
  if (c.listen.empty()) Fail(origin, "[server] listen must name at least one address");
  if (c.db_engine != "sqlite" && c.db_engine != "postgres") {
    Fail(origin, "[database] engine must be \"sqlite\" or \"postgres\"");
  }
  if (c.db_engine == "postgres" && c.postgres_uri.empty()) {
    Fail(origin, "[database] postgres_uri is required with engine = \"postgres\"");
  }
  if (c.sqlite_synchronous != "FULL" && c.sqlite_synchronous != "NORMAL") {
    Fail(origin, "[database] sqlite_synchronous must be \"FULL\" or \"NORMAL\"");
  }
  if (c.registration_mode != "token" && c.registration_mode != "open" &&
      c.registration_mode != "disabled") {
    Fail(origin, "[registration] mode must be \"token\", \"open\" or \"disabled\"");
  }
  if (c.tls_enabled && (c.tls_cert.empty() || c.tls_key.empty())) {
    Fail(origin, "[tls] enabled needs certificate and private_key");
  }
  // Stored JSON is read back with json::kMaxStoredDepth, which must leave
  // room for what the server wraps around the deepest request.
  constexpr std::size_t kDeepestJson = 512;
  static_assert(kDeepestJson + 8 <= json::kMaxStoredDepth);
  if (c.max_json_depth < 2 || c.max_json_depth > kDeepestJson) {
    Fail(origin, "[limits] max_json_depth must be between 2 and " + std::to_string(kDeepestJson));
  }
  if (c.max_body_bytes < 1024) Fail(origin, "[limits] max_body_bytes must be at least 1024");
  if (c.media_sweep_interval_s < 0) Fail(origin, "[media] sweep_interval_s must be >= 0");
  if (c.argon2_mem_kib < 8 || c.argon2_ops < 1) Fail(origin, "[passwords] argon2 too weak");
  if (c.worker_threads < 0) Fail(origin, "[server] worker_threads must be >= 0");
  if (c.sync_coalesce_ms < 0 || c.sync_coalesce_ms > 1000) {
    Fail(origin, "[server] sync_coalesce_ms must be between 0 and 1000");
  }
  if (c.hash_threads < 1) Fail(origin, "[passwords] hash_threads must be >= 1");
  if (c.log_format != "text" && c.log_format != "json") {
    Fail(origin, "[logging] format must be \"text\" or \"json\"");
  }
  if (c.public_baseurl.empty()) {
    c.public_baseurl_derived = true;
    const auto& l = c.listen.front();
    std::string host = l.host.find(':') != std::string::npos ? "[" + l.host + "]" : l.host;
    c.public_baseurl = std::string(c.tls_enabled ? "https" : "http") + "://" + host + ":" +
                       std::to_string(l.port) + "/";
  }
  if (c.public_baseurl.back() != '/') c.public_baseurl += '/';
  return c;
}

Config LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

std::string DefaultConfigText(const std::string& server_name, const std::string& data_dir) {
  return R"(# vigie configuration. Every key is optional; the values shown are the defaults
# unless marked otherwise. Unknown keys are an error.

[server]
# The domain of this server's user ids (@alice:SERVER_NAME). Cannot be changed later.
server_name = ")" +
         server_name + R"("
# Addresses to listen on for the client API. Keep 127.0.0.1 unless a TLS
# reverse proxy or [tls] below protects the port.
listen = ["127.0.0.1:8008"]
# public_baseurl = "https://matrix.example.org/"
# I/O threads and worker threads for database work (0 = one per core; at
# least 2 workers). More workers than cores only adds contention: on a
# 2-core machine, 4 delivered 20-40% less to a 200-member room than 2.
io_threads = 0
worker_threads = 0
max_connections = 20000
# Every this many seconds, give the memory a burst of clients freed back to
# the system (0 = never).
memory_trim_interval_s = 30
# Under load, a /sync long-poll woken while more writes are queued waits up
# to this many milliseconds for them and answers both at once: fewer, fuller
# answers (0 = answer at once). On a 2-core machine this took 11% more
# messages per second through 200 members in 20 rooms.
sync_coalesce_ms = 20
data_dir = ")" +
         data_dir + R"("

[tls]
enabled = false
# certificate = "/etc/vigie/fullchain.pem"
# private_key = "/etc/vigie/privkey.pem"

[database]
# "sqlite" (embedded, file under data_dir) or "postgres".
engine = "sqlite"
sqlite_path = "vigie.db"
# FULL survives power loss; NORMAL survives process crashes only.
sqlite_synchronous = "FULL"
# postgres_uri = "postgresql://vigie@127.0.0.1/vigie"
postgres_pool = 8

[limits]
max_body_bytes = 65536
max_media_bytes = 52428800
max_header_bytes = 16384
max_json_depth = 64
header_timeout_s = 20
body_timeout_s = 60
idle_timeout_s = 75

[registration]
# "token": registration needs a registration token (vigie prints one at
# first start; `vigie token create` makes more). "open": anyone on the
# network can register. "disabled": only `vigie user create`.
mode = "token"
min_password_length = 8

[passwords]
# Argon2id cost. Raise for stronger hashing; each login costs this much.
argon2_ops = 3
argon2_mem_kib = 65536
hash_threads = 2

[rate_limits]
# [requests per second, burst]
per_ip = [20.0, 100.0]
per_user = [20.0, 100.0]
login_per_ip = [0.5, 10.0]
# Only behind a reverse proxy that sets it.
trust_x_forwarded_for = false

[metrics]
# Prometheus metrics, on a separate listener that is not public.
enabled = true
listen = "127.0.0.1:9108"

[logging]
level = "info"   # trace, debug, info, warn, error
format = "text"  # text or json

[cors]
allow_origin = "*"

[media]
# Largest upload: [limits] max_media_bytes. Sum of one user's uploads (1 GiB).
user_quota_bytes = 1073741824
# Serve the legacy unauthenticated /_matrix/media/v3/download and /thumbnail
# endpoints (Matrix 1.11 made media downloads authenticated).
allow_unauthenticated_download = false
# Every this many seconds, delete expired upload reservations and stored
# files no media id names any more (0: never).
sweep_interval_s = 3600

[geoip]
# A MaxMind DB file (GeoLite2/GeoIP2-City, optionally with ASN and anonymiser
# traits) for the location checks of sign-ins. Unset: no GeoIP lookups.
# database = "/var/lib/GeoIP/GeoLite2-City.mmdb"
)";
}

}  // namespace vigie
