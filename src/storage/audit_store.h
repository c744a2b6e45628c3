// The append-only audit log. Each entry is chained to the previous one by
// hash: entry_hash = SHA-256(prev_hash | seq | ts | actor | tenant | action |
// target | details), so altering or removing any entry breaks the chain at
// that point. The tables also refuse UPDATE and DELETE (triggers).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct AuditEntry {
  std::int64_t seq = 0;
  std::int64_t ts = 0;
  std::string actor;  // user id, "server" or "cli"
  std::optional<std::string> tenant_id;
  std::string action;  // dotted name, e.g. "user.create"
  std::optional<std::string> target;
  std::string details;  // JSON object text
  std::string prev_hash;
  std::string entry_hash;
};

struct AuditVerifyResult {
  bool ok = true;
  std::int64_t entries = 0;
  std::optional<std::int64_t> first_bad_seq;
  std::string reason;
};

class AuditStore {
 public:
  // Appends an entry (seq, prev_hash and entry_hash are computed here).
  static AuditEntry Append(sql::Tx& tx, AuditEntry e);
  static std::vector<AuditEntry> List(sql::Tx& tx, std::int64_t from_seq, std::int64_t limit);
  // Walks the whole chain and names the first entry that does not verify.
  static AuditVerifyResult Verify(sql::Tx& tx);
  static std::string ComputeHash(const AuditEntry& e);
};

}  // namespace vigie::storage
