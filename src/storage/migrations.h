// Versioned schema migrations, applied in order at start-up. Each
// migration runs in its own transaction and is recorded in
// schema_migrations; a database newer than this binary is refused.
#pragma once

#include "storage/sql.h"

namespace vigie::storage {

// Brings the schema up to the latest version. Returns the version reached.
// Throws sql::DbError if the database is newer than this binary knows.
int Migrate(sql::Database& db);

int LatestSchemaVersion();

}  // namespace vigie::storage
