#include "service/homeserver.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/crypto.h"
#include "storage/account_store.h"
#include "storage/migrations.h"

namespace vigie::service {

// Threads for database and other blocking work: at least 2. More than the
// cores only adds contention: on a 2-core machine, 4 delivered 20-40% less
// to a 200-member room than 2, on either engine.
constexpr int kMinWorkerThreads = 2;

std::unique_ptr<sql::Database> OpenDatabase(const Config& config) {
  if (config.db_engine == "postgres") {
    auto db = sql::OpenPostgres({config.postgres_uri, config.postgres_pool});
    storage::Migrate(*db);
    return db;
  }
  std::filesystem::path path = config.sqlite_path;
  if (config.sqlite_path != ":memory:" && path.is_relative()) {
    std::filesystem::create_directories(config.data_dir);
    path = std::filesystem::path(config.data_dir) / path;
  }
  auto db = sql::OpenSqlite({path.string(), ThreadCount(config.worker_threads, kMinWorkerThreads),
                             config.sqlite_synchronous});
  storage::Migrate(*db);
  return db;
}

events::SigningKey LoadOrCreateSigningKey(const Config& config) {
  if (config.sqlite_path == ":memory:" && config.db_engine == "sqlite") {
    return events::SigningKey::Generate("a_" + crypto::RandomAlnum(4));
  }
  std::filesystem::create_directories(config.data_dir);
  const auto path = std::filesystem::path(config.data_dir) / "signing.key";
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return events::SigningKey::Parse(ss.str());
  }
  auto key = events::SigningKey::Generate("a_" + crypto::RandomAlnum(4));
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    std::filesystem::permissions(
        tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    out << key.Serialize() << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
  return key;
}

Homeserver::Homeserver(Config config)
    : config_(std::move(config)),
      db_(OpenDatabase(config_)),
      db_pool_(static_cast<std::size_t>(ThreadCount(config_.worker_threads, kMinWorkerThreads)),
               "db"),
      hash_pool_(static_cast<std::size_t>(config_.hash_threads), "hash"),
      hasher_(config_.argon2_ops, config_.argon2_mem_kib),
      ctx_{config_, *db_, db_pool_, hash_pool_, hasher_},
      key_(LoadOrCreateSigningKey(config_)),
      public_baseurl_(config_.public_baseurl),
      stream(*db_, db_pool_),
      auth(ctx_, stream),
      uia(ctx_),
      accounts(ctx_, auth, uia, policy, notices, stream, access),
      devices(ctx_, auth, uia, stream, notices),
      profiles(ctx_, policy),
      typing(db_pool_.get_executor(), stream.notifier()),
      push_rules(ctx_, stream),
      rooms(ctx_, stream, key_, &push_rules, policy),
      sync(ctx_, stream, typing),
      keys(ctx_, stream, uia),
      to_device(ctx_, stream),
      key_backup(ctx_),
      presence(ctx_, stream, policy),
      receipts(ctx_, stream),
      account_data(ctx_, stream),
      history(ctx_, stream),
      directory(ctx_, policy),
      media(ctx_, policy),
      admin(ctx_, auth, accounts, stream),
      notices(ctx_, rooms, account_data),
      policy(ctx_, notices),
      access(ctx_, policy, notices, auth),
      rl_ip(config_.rl_ip),
      rl_user(config_.rl_user),
      rl_login(config_.rl_login) {
  notices.EnsureSender();
  policy.Load();
}

Homeserver::~Homeserver() { Shutdown(); }

void Homeserver::Shutdown() {
  typing.Shutdown();
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
