#include "service/homeserver.h"

#include <filesystem>

#include "storage/account_store.h"
#include "storage/migrations.h"

namespace vigie::service {

std::unique_ptr<sql::Database> OpenDatabase(const Config& config) {
  if (config.db_engine == "postgres") {
    return sql::OpenPostgres({config.postgres_uri, config.postgres_pool});
  }
  std::filesystem::path path = config.sqlite_path;
  if (config.sqlite_path != ":memory:" && path.is_relative()) {
    std::filesystem::create_directories(config.data_dir);
    path = std::filesystem::path(config.data_dir) / path;
  }
  return sql::OpenSqlite({path.string(), std::max(2, config.worker_threads),
                          config.sqlite_synchronous});
}

Homeserver::Homeserver(Config config)
    : config_(std::move(config)),
      db_(OpenDatabase(config_)),
      db_pool_(static_cast<std::size_t>(config_.worker_threads)),
      hash_pool_(static_cast<std::size_t>(config_.hash_threads)),
      hasher_(config_.argon2_ops, config_.argon2_mem_kib),
      ctx_{config_, *db_, db_pool_, hash_pool_, hasher_},
      auth(ctx_),
      uia(ctx_),
      accounts(ctx_, auth, uia),
      devices(ctx_, auth, uia),
      profiles(ctx_),
      rl_ip(config_.rl_ip),
      rl_user(config_.rl_user),
      rl_login(config_.rl_login) {
  storage::Migrate(*db_);
}

Homeserver::~Homeserver() {
  db_pool_.join();
  hash_pool_.join();
}

std::optional<std::string> Homeserver::EnsureFirstRegistrationToken() {
  if (config_.registration_mode != "token") return std::nullopt;
  bool any = db_->Read(
      [](sql::Tx& tx) { return !storage::AccountStore::ListRegistrationTokens(tx).empty(); });
  if (any) return std::nullopt;
  return RunSync(accounts.CreateRegistrationToken(std::nullopt, std::nullopt, "server"));
}

}  // namespace vigie::service
