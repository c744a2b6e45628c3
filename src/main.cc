// vigie: the command line. `vigie serve` runs the homeserver; the other
// subcommands administer its database directly.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "api/api.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/heap_trimmer.h"
#include "common/log_sink.h"
#include "common/time.h"
#include "service/homeserver.h"
#include "storage/account_store.h"
#include "storage/audit_store.h"

namespace {

using namespace vigie;

// Logging costs an I/O thread a format and an append: one writer thread
// writes the records in batches (common/log_sink.h). When the log cannot
// keep up, records are dropped and counted rather than an I/O thread
// blocked. What is pending is written at exit.
void SetupLogging(const Config& c) {
  auto logger = std::make_shared<spdlog::logger>("vigie", std::make_shared<BatchingSink>(2));
  spdlog::set_default_logger(logger);
  // (Registered after the registry exists, so that it runs before the
  // registry is destroyed.)
  std::atexit([] { spdlog::shutdown(); });
  spdlog::set_level(spdlog::level::from_str(c.log_level));
  if (c.log_format == "json") {
    spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  }
}

// Loads `path`; when it is the default path and missing, writes the
// commented default configuration there first.
Config LoadOrCreateConfig(const std::string& path, bool is_default) {
  if (is_default && !std::filesystem::exists(path)) {
    std::filesystem::path p(path);
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(path);
    out << DefaultConfigText("localhost", p.parent_path().string());
    out.close();
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::cout << "Wrote a default configuration to " << path << "\n";
  }
  return LoadConfig(path);
}

int Serve(const Config& cfg, const sigset_t& signals) {
  service::Homeserver hs(cfg);
  if (auto token = hs.EnsureFirstRegistrationToken()) {
    std::cout << "First start: registration needs a token. Use this one (or create more with "
                 "`vigie token create`):\n\n    registration token: "
              << *token << "\n\n";
  }
  api::Api api(hs);

  http::ServerOptions opts;
  for (const auto& l : cfg.listen) opts.listen.emplace_back(l.host, l.port);
  opts.io_threads = ThreadCount(cfg.io_threads, 1);
  opts.max_connections = cfg.max_connections;
  opts.max_header_bytes = cfg.max_header_bytes;
  opts.header_timeout = std::chrono::seconds(cfg.header_timeout_s);
  opts.body_timeout = std::chrono::seconds(cfg.body_timeout_s);
  opts.idle_timeout = std::chrono::seconds(cfg.idle_timeout_s);
  opts.trust_x_forwarded_for = cfg.trust_x_forwarded_for;
  if (cfg.tls_enabled) {
    opts.tls_cert_file = cfg.tls_cert;
    opts.tls_key_file = cfg.tls_key;
  }
  opts.name = "client-api";
  http::Server server(
      opts, [&api](http::Request& r) { return api.Handle(r); },
      [&api](std::string_view m, std::string_view p) { return api.BodyLimit(m, p); },
      [&api](http::ProtocolError e) { return api.ProtocolErrorResponse(e); });
  hs.metrics.AddGauge("vigie_open_connections", "Open client connections.",
                      [&server] { return static_cast<double>(server.OpenConnections()); });
  hs.metrics.AddGauge("vigie_stream_write_batches", "Transactions committed by stream writes.",
                      [&hs] { return static_cast<double>(hs.stream.BatchesCommitted()); });
  hs.metrics.AddGauge("vigie_stream_writes", "Stream writes committed (group commit joins them).",
                      [&hs] { return static_cast<double>(hs.stream.WritesCommitted()); });
  hs.metrics.AddGauge("vigie_stream_batches_run_again",
                      "Batches of sends run again one write at a time after a statement failed.",
                      [&hs] { return static_cast<double>(hs.stream.BatchesRunAgain()); });
  hs.metrics.AddGauge("vigie_sync_waiters", "/sync long-polls waiting for news.",
                      [&hs] { return static_cast<double>(hs.stream.notifier().Waiters()); });
  hs.metrics.AddGauge("vigie_sync_looks", "Times a /sync looked for news.",
                      [&hs] { return static_cast<double>(hs.sync.Looks()); });
  hs.metrics.AddGauge("vigie_sync_looks_in_memory",
                      "Looks answered from memory alone, without the database pool.",
                      [&hs] { return static_cast<double>(hs.sync.MemoryLooks()); });

  std::unique_ptr<http::Server> metrics_server;
  if (cfg.metrics_enabled) {
    http::ServerOptions mo;
    mo.listen = {{cfg.metrics_listen.host, cfg.metrics_listen.port}};
    mo.io_threads = 1;
    mo.max_connections = 64;
    mo.name = "metrics";
    metrics_server = std::make_unique<http::Server>(
        mo, [&api](http::Request& r) { return api.HandleMetrics(r); },
        [](std::string_view, std::string_view) { return std::size_t{0}; },
        [&api](http::ProtocolError e) { return api.ProtocolErrorResponse(e); });
  }

  server.Bind();
  if (cfg.public_baseurl_derived) {
    // With port 0 the advertised URL needs the port the kernel chose.
    const auto [host, port] = server.BoundAddresses().front();
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    hs.set_public_baseurl(std::string(cfg.tls_enabled ? "https" : "http") + "://" + h + ":" +
                          std::to_string(port) + "/");
  }
  server.Start();
  if (metrics_server) metrics_server->Start();
  hs.media.StartSweeper(server.executor(), std::chrono::seconds(cfg.media_sweep_interval_s));
  for (const auto& [host, port] : server.BoundAddresses()) {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::cout << "vigie " << VIGIE_VERSION << " listening on http" << (cfg.tls_enabled ? "s" : "")
              << "://" << h << ":" << port << " (server name " << cfg.server_name << ", "
              << cfg.db_engine << ")" << std::endl;
  }
  if (metrics_server) {
    for (const auto& [host, port] : metrics_server->BoundAddresses()) {
      std::cout << "metrics on http://" << host << ":" << port << "/metrics" << std::endl;
    }
  }
  HeapTrimmer trimmer(std::chrono::seconds(cfg.memory_trim_interval_s));
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  hs.media.StopSweeper();
  hs.stream.notifier().Shutdown();  // long-polling syncs answer now
  server.Stop(std::chrono::seconds(10));
  if (metrics_server) metrics_server->Stop(std::chrono::seconds(1));
  server.Join();
  if (metrics_server) metrics_server->Join();
  // Finish blocking work before the servers' io_contexts go away: it may
  // still post completions to them.
  hs.Shutdown();
  spdlog::info("stopped");
  return 0;
}

std::string ReadPassword(const std::string& given) {
  if (!given.empty()) return given;
  if (isatty(STDIN_FILENO)) std::cerr << "Password: " << std::flush;
  std::string pw;
  std::getline(std::cin, pw);
  return pw;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM and SIGINT are taken by sigwait in Serve. Blocked here, before
  // any thread starts, so that every thread inherits the mask and no
  // signal kills the process while it starts up.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  vigie::crypto::Init();
  CLI::App app{"vigie: a Matrix homeserver implementing ITU-T X.1606"};
  app.set_version_flag("--version", std::string("vigie ") + VIGIE_VERSION);
  app.require_subcommand(1);
  std::string config_path = "data/vigie.toml";
  auto* config_opt = app.add_option("-c,--config", config_path, "Configuration file (TOML)")
                         ->capture_default_str();

  auto* serve = app.add_subcommand("serve", "Run the homeserver");
  auto* user = app.add_subcommand("user", "Manage users")->require_subcommand(1);
  auto* user_create = user->add_subcommand("create", "Create a user");
  std::string localpart, password;
  bool admin = false;
  user_create->add_option("localpart", localpart, "Local part of the user id")->required();
  user_create->add_option("-p,--password", password, "Password (read from stdin if absent)");
  user_create->add_flag("--admin", admin, "Make the user a server admin");
  service::NewAccountOptions new_account;
  std::string person_id;
  user_create->add_option("--tenant", new_account.tenant, "Tenant of the user")
      ->capture_default_str();
  user_create->add_option("--person-id", person_id,
                          "Links the person's accounts across tenants (X-IM-5)");
  auto* user_list = user->add_subcommand("list", "List users");
  auto* token = app.add_subcommand("token", "Manage registration tokens")->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "Create a registration token");
  std::int64_t uses = 0;
  int days = 0;
  token_create->add_option("--uses", uses, "How many registrations it allows (0: unlimited)");
  token_create->add_option("--expires-in-days", days, "Days until it expires (0: never)");
  auto* token_list = token->add_subcommand("list", "List registration tokens");
  auto* audit = app.add_subcommand("audit", "The tamper-evident audit log")->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand("verify", "Check the audit log's hash chain");

  CLI11_PARSE(app, argc, argv);

  try {
    Config cfg = LoadOrCreateConfig(config_path, config_opt->count() == 0);
    SetupLogging(cfg);
    if (serve->parsed()) return Serve(cfg, signals);

    service::Homeserver hs(cfg);
    if (user_create->parsed()) {
      if (!person_id.empty()) new_account.person_id = person_id;
      auto created = hs.RunSync(
          hs.accounts.CreateUser(localpart, ReadPassword(password), admin, "cli", new_account));
      std::cout << "created " << created.user_id << (admin ? " (admin)" : "") << "\n";
      if (created.warning) {
        std::cout << "warning (" << created.warning->requirement
                  << "): " << created.warning->message << "\n";
      }
    } else if (user_list->parsed()) {
      hs.db().Read([](sql::Tx& tx) {
        for (const auto& u : storage::AccountStore::ListUsers(tx, 0, 1000000)) {
          std::cout << u.user_id << "\ttenant=" << u.tenant_id << (u.is_admin ? "\tadmin" : "")
                    << (u.deactivated ? "\tdeactivated" : "") << "\n";
        }
      });
    } else if (token_create->parsed()) {
      std::optional<std::int64_t> u = uses > 0 ? std::optional(uses) : std::nullopt;
      std::optional<std::int64_t> e;
      if (days > 0) e = NowMs() + std::int64_t{days} * 86400000;
      std::cout << hs.RunSync(hs.accounts.CreateRegistrationToken(u, e, "cli")) << "\n";
    } else if (token_list->parsed()) {
      hs.db().Read([](sql::Tx& tx) {
        for (const auto& t : storage::AccountStore::ListRegistrationTokens(tx)) {
          std::cout << t.token << "\tcompleted=" << t.completed << "\tuses_allowed="
                    << (t.uses_allowed ? std::to_string(*t.uses_allowed) : "unlimited") << "\n";
        }
      });
    } else if (audit_verify->parsed()) {
      auto r = hs.db().Read([](sql::Tx& tx) { return storage::AuditStore::Verify(tx); });
      if (r.ok) {
        std::cout << "audit log intact: " << r.entries << " entries\n";
        return 0;
      }
      std::cout << "audit log BROKEN at entry " << *r.first_bad_seq << ": " << r.reason << "\n";
      return 1;
    }
  } catch (const vigie::Error& e) {
    std::cerr << "error: " << e.message() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
