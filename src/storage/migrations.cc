#include "storage/migrations.h"

#include <string>
#include <vector>

#include "common/time.h"

namespace vigie::storage {
namespace {

struct Migration {
  int version;
  const char* name;
  // Portable DDL; {{ID}} becomes the engine's auto-increment primary key,
  // {{CLUSTERED}} (after a table's definition) keeps SQLite's rows in
  // their primary key's tree.
  const char* sql;
  // Engine-specific statements run after `sql` (may be empty).
  const char* sqlite_extra;
  const char* postgres_extra;
};

const std::vector<Migration>& All() {
  static const std::vector<Migration> kMigrations = {
      {1, "core: tenants, users, devices, tokens, profiles, audit log",
       R"sql(
CREATE TABLE tenants (
  tenant_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended')),
  created_ts BIGINT NOT NULL
);
INSERT INTO tenants (tenant_id, name, state, created_ts) VALUES ('default', 'Default tenant', 'active', 0);
CREATE TABLE users (
  user_nid {{ID}},
  user_id TEXT NOT NULL UNIQUE,
  tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
  password_hash TEXT,
  is_admin INTEGER NOT NULL DEFAULT 0,
  deactivated INTEGER NOT NULL DEFAULT 0,
  created_ts BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);
CREATE TABLE profiles (
  user_id TEXT PRIMARY KEY REFERENCES users (user_id),
  displayname TEXT,
  avatar_url TEXT
);
CREATE TABLE devices (
  user_id TEXT NOT NULL REFERENCES users (user_id),
  device_id TEXT NOT NULL,
  display_name TEXT,
  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('pending', 'active', 'banned')),
  is_primary INTEGER NOT NULL DEFAULT 0,
  created_ts BIGINT NOT NULL,
  last_seen_ts BIGINT,
  last_seen_ip TEXT,
  last_seen_user_agent TEXT,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE access_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE TABLE registration_tokens (
  token TEXT PRIMARY KEY,
  uses_allowed INTEGER,
  pending INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0,
  expiry_ts BIGINT,
  created_ts BIGINT NOT NULL
);
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  ts BIGINT NOT NULL,
  actor TEXT NOT NULL,
  tenant_id TEXT,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  entry_hash TEXT NOT NULL
);
)sql",
       R"sql(
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql",
       R"sql(
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
)sql"},
      {2, "rooms: events, state groups, memberships, per-user data",
       R"sql(
CREATE TABLE rooms (
  room_nid {{ID}},
  room_id TEXT NOT NULL UNIQUE,
  room_version TEXT NOT NULL,
  creator TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  published INTEGER NOT NULL DEFAULT 0,
  last_event_nid BIGINT,
  depth BIGINT NOT NULL DEFAULT 0,
  state_group BIGINT
);
CREATE TABLE events (
  event_nid {{ID}},
  event_id TEXT NOT NULL UNIQUE,
  room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
  stream_pos BIGINT NOT NULL UNIQUE,
  depth BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT,
  sender TEXT NOT NULL,
  origin_server_ts BIGINT NOT NULL,
  state_group BIGINT NOT NULL,
  txn_id TEXT,
  device_id TEXT,
  redacted_by TEXT,
  json TEXT NOT NULL,
  redacted_because TEXT
);
CREATE INDEX events_room_stream ON events (room_nid, stream_pos);
CREATE TABLE state_groups (
  group_nid {{ID}},
  room_nid BIGINT NOT NULL,
  prev_group BIGINT,
  chain_len INTEGER NOT NULL
);
CREATE TABLE state_group_entries (
  group_nid BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  event_nid BIGINT NOT NULL,
  PRIMARY KEY (group_nid, type, state_key)
);
CREATE TABLE current_state (
  room_nid BIGINT NOT NULL,
  type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  event_nid BIGINT NOT NULL,
  PRIMARY KEY (room_nid, type, state_key)
);
CREATE TABLE memberships (
  room_nid BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  membership TEXT NOT NULL,
  event_nid BIGINT NOT NULL,
  stream_pos BIGINT NOT NULL,
  joined_pos BIGINT,
  forgotten INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (room_nid, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, membership);
CREATE INDEX memberships_user_stream ON memberships (user_id, stream_pos);
CREATE TABLE event_relations (
  event_nid BIGINT PRIMARY KEY,
  room_nid BIGINT NOT NULL,
  relates_to TEXT NOT NULL,
  rel_type TEXT NOT NULL,
  stream_pos BIGINT NOT NULL
);
CREATE INDEX event_relations_target ON event_relations (relates_to, stream_pos);
CREATE INDEX event_relations_threads ON event_relations (room_nid, rel_type, stream_pos);
CREATE TABLE event_txns (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE TABLE room_aliases (
  alias TEXT PRIMARY KEY,
  room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
  creator TEXT NOT NULL
);
CREATE TABLE filters (
  filter_nid {{ID}},
  user_id TEXT NOT NULL,
  json TEXT NOT NULL
);
CREATE TABLE account_data (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  stream_pos BIGINT NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_pos);
CREATE TABLE receipts (
  room_nid BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  receipt_type TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_stream_pos BIGINT NOT NULL,
  ts BIGINT NOT NULL,
  stream_pos BIGINT NOT NULL,
  PRIMARY KEY (room_nid, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_stream ON receipts (stream_pos);
CREATE TABLE presence (
  user_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  status_msg TEXT,
  last_active_ts BIGINT NOT NULL,
  stream_pos BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_pos);
CREATE TABLE event_push_actions (
  room_nid BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  stream_pos BIGINT NOT NULL,
  thread_id TEXT NOT NULL,
  highlight INTEGER NOT NULL,
  PRIMARY KEY (room_nid, user_id, stream_pos)
);
)sql",
       "", ""},
      {3, "media repository",
       R"sql(
CREATE TABLE media (
  media_id TEXT PRIMARY KEY,
  sha256 TEXT,
  size BIGINT NOT NULL DEFAULT 0,
  content_type TEXT,
  upload_name TEXT,
  user_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  unused_expires_ts BIGINT
);
CREATE INDEX media_user ON media (user_id);
CREATE INDEX media_sha256 ON media (sha256);
CREATE INDEX media_unused_expires ON media (unused_expires_ts);
)sql",
       "", ""},
      {4, "end-to-end encryption: device keys, cross-signing, to-device",
       R"sql(
CREATE TABLE e2e_device_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  json TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id)
);
CREATE TABLE e2e_one_time_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE TABLE e2e_fallback_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL,
  json TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id, algorithm)
);
CREATE TABLE e2e_cross_signing_keys (
  user_id TEXT NOT NULL,
  key_type TEXT NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
  public_key TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (user_id, key_type)
);
CREATE TABLE e2e_signatures (
  target_user_id TEXT NOT NULL,
  target_key_id TEXT NOT NULL,
  signer_user_id TEXT NOT NULL,
  signer_key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);
CREATE TABLE device_list_changes (
  user_id TEXT NOT NULL,
  stream_pos BIGINT NOT NULL,
  PRIMARY KEY (user_id, stream_pos)
);
CREATE INDEX device_list_changes_stream ON device_list_changes (stream_pos);
CREATE TABLE to_device_messages (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  stream_pos BIGINT NOT NULL,
  sender TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, stream_pos)
);
CREATE TABLE to_device_txns (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);
)sql",
       "", ""},
      {5, "tenancy and policy: links, policy documents, changes, origins, device controls",
       R"sql(
ALTER TABLE users ADD COLUMN tenant_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN person_id TEXT;
CREATE INDEX users_person ON users (person_id);
ALTER TABLE devices ADD COLUMN wipe_requested_ts BIGINT;
ALTER TABLE registration_tokens ADD COLUMN tenant_id TEXT;
CREATE TABLE tenant_links (
  tenant_a TEXT NOT NULL REFERENCES tenants (tenant_id),
  tenant_b TEXT NOT NULL REFERENCES tenants (tenant_id),
  change_id BIGINT,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (tenant_a, tenant_b),
  CHECK (tenant_a < tenant_b)
);
CREATE TABLE policies (
  scope TEXT NOT NULL,
  version BIGINT NOT NULL,
  document TEXT NOT NULL,
  actor TEXT NOT NULL,
  change_id BIGINT,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (scope, version)
);
CREATE TABLE policy_changes (
  change_id {{ID}},
  scope TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  assessment TEXT NOT NULL,
  reasons TEXT NOT NULL,
  required TEXT NOT NULL,
  approvals TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'refused')),
  proposer TEXT NOT NULL,
  created_ts BIGINT NOT NULL,
  decided_ts BIGINT
);
CREATE INDEX policy_changes_state ON policy_changes (state, change_id);
CREATE TABLE session_origins (
  origin_nid {{ID}},
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  kind TEXT NOT NULL,
  ip TEXT NOT NULL,
  country TEXT,
  lat DOUBLE PRECISION,
  lon DOUBLE PRECISION,
  asn BIGINT,
  anonymizer INTEGER NOT NULL DEFAULT 0,
  client_lat DOUBLE PRECISION,
  client_lon DOUBLE PRECISION,
  network_type TEXT,
  anomaly TEXT
);
CREATE INDEX session_origins_user ON session_origins (user_id, ts);
CREATE TABLE banned_device_keys (
  user_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  key TEXT NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, key)
);
CREATE TABLE server_notice_rooms (
  user_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL
);
)sql",
       "", ""},
      {6, "server-side key backups: versions and their encrypted session keys",
       R"sql(
CREATE TABLE key_backup_versions (
  user_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  algorithm TEXT NOT NULL,
  auth_data TEXT NOT NULL,
  etag BIGINT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  created_ts BIGINT NOT NULL,
  PRIMARY KEY (user_id, version)
);
CREATE TABLE key_backup_keys (
  user_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  room_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  first_message_index BIGINT NOT NULL,
  forwarded_count BIGINT NOT NULL,
  is_verified INTEGER NOT NULL,
  session_data TEXT NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id)
);
)sql",
       "", ""},
      // Unread counts read (room, user, position, highlight) on every /sync
      // with news: kept in the key's own tree they need no row lookups.
      {7, "push actions clustered by their key for unread counts", "",
       R"sql(
CREATE TABLE event_push_actions_new (
  room_nid BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  stream_pos BIGINT NOT NULL,
  thread_id TEXT NOT NULL,
  highlight INTEGER NOT NULL,
  PRIMARY KEY (room_nid, user_id, stream_pos)
) WITHOUT ROWID;
INSERT INTO event_push_actions_new SELECT room_nid, user_id, stream_pos, thread_id, highlight FROM event_push_actions;
DROP TABLE event_push_actions;
ALTER TABLE event_push_actions_new RENAME TO event_push_actions;
)sql",
       R"sql(
ALTER TABLE event_push_actions DROP CONSTRAINT event_push_actions_pkey;
ALTER TABLE event_push_actions ADD PRIMARY KEY (room_nid, user_id, stream_pos) INCLUDE (highlight);
)sql"},
      // The stream's last committed position, so that positions that left
      // no row of their own (a forget, a to-device message since deleted)
      // are not handed out again after a restart.
      {8, "stream head",
       R"sql(
CREATE TABLE stream_head (
  id INTEGER PRIMARY KEY,
  pos BIGINT NOT NULL
);
INSERT INTO stream_head (id, pos) VALUES (1, 0);
)sql",
       "", ""},
      // How large the full state a chain of state groups starts from is,
      // so that a large room's snapshots come in proportion to it.
      // Existing chains read as based on an empty state (the old rule).
      {9, "state group base sizes",
       R"sql(
ALTER TABLE state_groups ADD COLUMN base_size BIGINT NOT NULL DEFAULT 0;
)sql",
       "", ""},
      // A notifying event is recorded once for the room, with the outcome
      // most of its recipients had; event_push_actions keeps only the
      // recipients whose outcome differs (notify 0: not notified). What a
      // user has read, and where their current membership began, are
      // marks per thread ("" for all) below which nothing counts. The main
      // timeline's summaries come apart from threads' (in_thread), so
      // that its own mark bounds a range of them.
      {10, "push summaries per event, read marks",
       R"sql(
ALTER TABLE event_push_actions ADD COLUMN notify INTEGER NOT NULL DEFAULT 1;
CREATE TABLE event_push_summary (
  room_nid BIGINT NOT NULL,
  in_thread INTEGER NOT NULL,
  stream_pos BIGINT NOT NULL,
  thread_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  highlight INTEGER NOT NULL,
  PRIMARY KEY (room_nid, in_thread, stream_pos)
) {{CLUSTERED}};
CREATE TABLE push_read_marks (
  room_nid BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  stream_pos BIGINT NOT NULL,
  PRIMARY KEY (room_nid, user_id, thread_id)
) {{CLUSTERED}};
)sql",
       "", ""},
      // A room's notifications at a range of positions, for every member at
      // once (the recent ones that woken /syncs share, see RecentPush).
      {11, "push actions by position",
       R"sql(
CREATE INDEX event_push_actions_by_pos ON event_push_actions (room_nid, stream_pos);
)sql",
       "", ""},
  };
  return kMigrations;
}

std::string Expand(std::string sql, sql::Dialect d) {
  const bool sqlite = d == sql::Dialect::kSqlite;
  const std::pair<std::string_view, std::string_view> subs[] = {
      {"{{ID}}", sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT"
                        : "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
      {"{{CLUSTERED}}", sqlite ? "WITHOUT ROWID" : ""},
  };
  for (const auto& [from, to] : subs) {
    for (std::size_t pos; (pos = sql.find(from)) != std::string::npos;) {
      sql.replace(pos, from.size(), to);
    }
  }
  return sql;
}

}  // namespace

int LatestSchemaVersion() { return All().back().version; }

int Migrate(sql::Database& db) {
  db.ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "name TEXT NOT NULL, applied_ts BIGINT NOT NULL)");
  int current = 0;
  for (const Migration& m : All()) {
    db.Write([&](sql::Tx& tx) {
      if (tx.dialect() == sql::Dialect::kPostgres) {
        // Serialises concurrent start-ups of several processes.
        tx.Query("SELECT pg_advisory_xact_lock(7619)");
      }
      auto row = tx.QueryOne("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      current = static_cast<int>(row->Int(0));
      if (current > LatestSchemaVersion()) {
        throw sql::DbError("database schema version " + std::to_string(current) +
                           " is newer than this vigie (" + std::to_string(LatestSchemaVersion()) +
                           ")");
      }
      if (current >= m.version) return;
      std::string script = Expand(m.sql, tx.dialect());
      script += tx.dialect() == sql::Dialect::kSqlite ? m.sqlite_extra : m.postgres_extra;
      // Statements are separated by ";\n" at the end of a line; the
      // PostgreSQL function body keeps its inner semicolons on one line.
      std::size_t start = 0;
      while (start < script.size()) {
        std::size_t end = script.find(";\n", start);
        if (end == std::string::npos) end = script.size();
        std::string stmt = script.substr(start, end - start);
        start = end + 2;
        if (stmt.find_first_not_of(" \n\t") == std::string::npos) continue;
        // SQLite trigger bodies contain "; END" on the same line; keep them whole.
        tx.Query(stmt);
      }
      tx.Query("INSERT INTO schema_migrations (version, name, applied_ts) VALUES ($1, $2, $3)",
               {std::int64_t{m.version}, std::string(m.name), NowMs()});
      current = m.version;
    });
  }
  return current;
}

}  // namespace vigie::storage
