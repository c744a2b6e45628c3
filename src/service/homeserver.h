// The composition root: owns the database, the blocking pools and every
// service. One per process (tests may make several).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <memory>

#include "common/config.h"
#include "common/metrics.h"
#include "common/thread_name.h"
#include "service/access_control.h"
#include "service/account_data_service.h"
#include "service/account_service.h"
#include "service/admin_service.h"
#include "service/auth_service.h"
#include "service/device_service.h"
#include "service/directory_service.h"
#include "service/history_service.h"
#include "service/key_backup_service.h"
#include "service/keys_service.h"
#include "service/media_service.h"
#include "service/password_hasher.h"
#include "service/policy_service.h"
#include "service/presence_service.h"
#include "service/profile_service.h"
#include "service/push_rule_service.h"
#include "service/rate_limiter.h"
#include "service/receipt_service.h"
#include "service/room_service.h"
#include "service/server_notices.h"
#include "service/stream.h"
#include "service/sync_service.h"
#include "service/typing_service.h"
#include "service/uia_service.h"
#include "storage/sql.h"

namespace vigie::service {

// Opens the database the config names (creating data_dir for SQLite) and
// brings its schema up to date.
std::unique_ptr<sql::Database> OpenDatabase(const Config& config);

// The server's Ed25519 signing key, from data_dir/signing.key; created
// (mode 0600) on first start. In-memory test databases get a fresh key.
events::SigningKey LoadOrCreateSigningKey(const Config& config);

class Homeserver {
 public:
  // Opens the database and brings its schema up to date.
  explicit Homeserver(Config config);
  ~Homeserver();

  const Config& config() const { return config_; }
  // The URL clients are told to use (.well-known, login). Set once before
  // serving, when the listen port was chosen by the kernel.
  const std::string& public_baseurl() const { return public_baseurl_; }
  void set_public_baseurl(std::string url) { public_baseurl_ = std::move(url); }

  // Cancels timers and waits for blocking work to finish. Idempotent; the
  // destructor calls it.
  void Shutdown();
  sql::Database& db() { return *db_; }
  boost::asio::thread_pool& db_pool() { return db_pool_; }

  // Runs a coroutine to completion on the calling thread (CLI, tests).
  // Refused on a database-pool thread: what it waits for (a stream write's
  // Drain) may need that very thread.
  template <typename T>
  T RunSync(boost::asio::awaitable<T> aw) {
    if (db_pool_.get_executor().running_in_this_thread()) {
      throw std::logic_error("RunSync on a database-pool thread would wait for itself");
    }
    boost::asio::io_context ioc;
    auto fut = boost::asio::co_spawn(ioc, std::move(aw), boost::asio::use_future);
    ioc.run();
    return fut.get();
  }

  // If registration needs a token and none exists, creates one and
  // returns it (first start); nullopt otherwise.
  std::optional<std::string> EnsureFirstRegistrationToken();

 private:
  Config config_;
  std::unique_ptr<sql::Database> db_;
  NamedThreadPool db_pool_;    // "db-N": the database work, the stream's writes
  NamedThreadPool hash_pool_;  // "hash-N": Argon2
  PasswordHasher hasher_;
  ServiceContext ctx_;
  events::SigningKey key_;
  std::string public_baseurl_;

 public:
  Stream stream;  // before the services that write to it
  AuthService auth;
  UiaService uia;
  AccountService accounts;
  DeviceService devices;
  ProfileService profiles;
  TypingService typing;
  PushRuleService push_rules;  // before rooms, which evaluates with it
  RoomService rooms;
  SyncService sync;
  KeysService keys;
  ToDeviceService to_device;
  KeyBackupService key_backup;
  PresenceService presence;
  ReceiptService receipts;
  AccountDataService account_data;
  HistoryService history;
  DirectoryService directory;
  MediaService media;
  AdminService admin;
  ServerNoticeService notices;
  PolicyService policy;         // the X.1606 policy engine's service side
  AccessControlService access;  // X-AC-1/X-AC-2 location checks
  RateLimiter rl_ip;
  RateLimiter rl_user;
  RateLimiter rl_login;
  Metrics metrics;
};

}  // namespace vigie::service
