// What every service needs: configuration, the database and the two
// blocking pools. Owned by the composition root (service/homeserver.h).
#pragma once

#include <boost/asio/thread_pool.hpp>

#include "common/config.h"
#include "service/password_hasher.h"
#include "storage/sql.h"

namespace vigie::service {

struct ServiceContext {
  const Config& config;
  sql::Database& db;
  // Database and other short blocking work.
  boost::asio::thread_pool& db_pool;
  // Argon2id only: its size bounds the memory and CPU spent on hashing.
  boost::asio::thread_pool& hash_pool;
  const PasswordHasher& hasher;
};

}  // namespace vigie::service
