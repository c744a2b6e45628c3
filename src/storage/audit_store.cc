#include "storage/audit_store.h"

#include "common/crypto.h"

namespace vigie::storage {
namespace {

const std::string kGenesis(64, '0');

AuditEntry ReadEntry(const sql::Row& r) {
  return {r.Int(0),     r.Int(1),  r.Text(2), r.OptText(3), r.Text(4),
          r.OptText(5), r.Text(6), r.Text(7), r.Text(8)};
}

constexpr const char* kCols =
    "seq, ts, actor, tenant_id, action, target, details, prev_hash, entry_hash";

// Length-prefixed so that no two different entries serialise alike.
void Field(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out += ':';
  out += v;
  out += '|';
}

}  // namespace

std::string AuditStore::ComputeHash(const AuditEntry& e) {
  std::string buf;
  Field(buf, e.prev_hash);
  Field(buf, std::to_string(e.seq));
  Field(buf, std::to_string(e.ts));
  Field(buf, e.actor);
  Field(buf, e.tenant_id ? "1" + *e.tenant_id : "0");
  Field(buf, e.action);
  Field(buf, e.target ? "1" + *e.target : "0");
  Field(buf, e.details);
  return crypto::Sha256Hex(buf);
}

AuditEntry AuditStore::Append(sql::Tx& tx, AuditEntry e) {
  if (tx.dialect() == sql::Dialect::kPostgres) tx.Query("SELECT pg_advisory_xact_lock(7620)");
  auto last = tx.QueryOne("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  e.seq = last ? last->Int(0) + 1 : 1;
  e.prev_hash = last ? last->Text(1) : kGenesis;
  e.entry_hash = ComputeHash(e);
  tx.Query(std::string("INSERT INTO audit_log (") + kCols +
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
           {e.seq, e.ts, e.actor, e.tenant_id ? sql::Value(*e.tenant_id) : sql::kNull, e.action,
            e.target ? sql::Value(*e.target) : sql::kNull, e.details, e.prev_hash, e.entry_hash});
  return e;
}

std::vector<AuditEntry> AuditStore::List(sql::Tx& tx, std::int64_t from_seq, std::int64_t limit) {
  auto res = tx.Query(
      std::string("SELECT ") + kCols + " FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
      {from_seq, limit});
  std::vector<AuditEntry> out;
  for (const auto& r : res.rows) out.push_back(ReadEntry(r));
  return out;
}

AuditVerifyResult AuditStore::Verify(sql::Tx& tx) {
  AuditVerifyResult result;
  std::string prev = kGenesis;
  std::int64_t expected_seq = 1;
  const std::int64_t kPage = 1000;
  for (std::int64_t from = 1;;) {
    auto page = List(tx, from, kPage);
    for (const auto& e : page) {
      ++result.entries;
      std::string why;
      if (e.seq != expected_seq) {
        why = "entry " + std::to_string(expected_seq) + " is missing";
      } else if (e.prev_hash != prev) {
        why = "prev_hash does not match the previous entry";
      } else if (!crypto::ConstantTimeEqual(ComputeHash(e), e.entry_hash)) {
        why = "content does not match entry_hash";
      }
      if (!why.empty()) {
        result.ok = false;
        result.first_bad_seq = e.seq != expected_seq ? expected_seq : e.seq;
        result.reason = why;
        return result;
      }
      prev = e.entry_hash;
      ++expected_seq;
    }
    if (static_cast<std::int64_t>(page.size()) < kPage) break;
    from = page.back().seq + 1;
  }
  return result;
}

}  // namespace vigie::storage
