#include "storage/relation_store.h"

namespace vigie::storage {
namespace {

// Parents per query: well under both engines' limits on parameters.
constexpr std::size_t kBatch = 200;

}  // namespace

std::vector<RelationChild> RelationStore::Children(sql::Tx& tx, const RelationsQuery& q) {
  // The tree below the parent, one level per step of the recursion. A
  // child is always newer than its parent (it names the parent's id), so
  // the depth bound is the only guard the walk needs.
  std::vector<sql::Value> params = {q.parent_event_id, q.room_nid, std::int64_t{q.depth},
                                    q.from_exclusive, q.to_inclusive};
  std::string sql =
      "WITH RECURSIVE tree(event_nid, event_id, stream_pos, rel_type, type, d) AS ("
      "SELECT r.event_nid, e.event_id, r.stream_pos, r.rel_type, e.type, 1 FROM event_relations r "
      "JOIN events e ON e.event_nid = r.event_nid WHERE r.relates_to = $1 AND r.room_nid = $2 "
      "AND e.redacted_by IS NULL "
      "UNION ALL "
      "SELECT r.event_nid, e.event_id, r.stream_pos, r.rel_type, e.type, t.d + 1 FROM tree t "
      "JOIN event_relations r ON r.relates_to = t.event_id JOIN events e ON e.event_nid = "
      "r.event_nid WHERE t.d < $3 AND r.room_nid = $2 AND e.redacted_by IS NULL) "
      "SELECT event_nid, stream_pos FROM tree WHERE stream_pos > $4 AND stream_pos <= $5";
  if (q.rel_type) {
    params.emplace_back(*q.rel_type);
    sql += " AND rel_type = $" + std::to_string(params.size());
  }
  if (q.event_type) {
    params.emplace_back(*q.event_type);
    sql += " AND type = $" + std::to_string(params.size());
  }
  params.emplace_back(q.limit);
  sql += std::string(" ORDER BY stream_pos ") + (q.dir == Direction::kForward ? "ASC" : "DESC") +
         " LIMIT $" + std::to_string(params.size());
  std::vector<RelationChild> out;
  for (const auto& r : tx.Query(sql, params).rows) out.push_back({r.Int(0), r.Int(1)});
  return out;
}

std::vector<ThreadRoot> RelationStore::Threads(sql::Tx& tx, const ThreadsQuery& q) {
  std::string participated =
      "(root.sender = $2 OR MAX(CASE WHEN c.sender = $2 THEN 1 ELSE 0 END) = 1)";
  std::string sql =
      "SELECT g.relates_to, g.root_nid, g.latest, g.n, g.mine, e.event_nid FROM ("
      "SELECT r.relates_to AS relates_to, root.event_nid AS root_nid, MAX(r.stream_pos) AS "
      "latest, COUNT(*) AS n, CASE WHEN " +
      participated +
      " THEN 1 ELSE 0 END AS mine FROM event_relations r "
      "JOIN events c ON c.event_nid = r.event_nid "
      "JOIN events root ON root.event_id = r.relates_to AND root.room_nid = r.room_nid "
      "WHERE r.room_nid = $1 AND r.rel_type = 'm.thread' AND r.stream_pos <= $3 "
      "AND root.stream_pos <= $3 AND c.redacted_by IS NULL "
      "GROUP BY r.relates_to, root.event_nid, root.sender HAVING MAX(r.stream_pos) <= $4" +
      (q.only_participated ? " AND " + participated : std::string()) +
      ") g JOIN events e ON e.stream_pos = g.latest ORDER BY g.latest DESC LIMIT $5";
  auto res = tx.Query(sql, {q.room_nid, q.user_id, q.visible_upto, q.latest_upto, q.limit});
  std::vector<ThreadRoot> out;
  for (const auto& r : res.rows) {
    out.push_back({r.Text(0), r.Int(1), r.Int(2), r.Int(5), r.Int(3), r.Bool(4)});
  }
  return out;
}

std::vector<ThreadRoot> RelationStore::ThreadSummaries(sql::Tx& tx, std::int64_t room_nid,
                                                       const std::vector<std::string>& parent_ids,
                                                       std::string_view user_id,
                                                       std::int64_t upto) {
  std::vector<ThreadRoot> out;
  for (std::size_t i = 0; i < parent_ids.size(); i += kBatch) {
    std::vector<sql::Value> params = {room_nid, std::string(user_id), upto};
    std::string sql =
        "SELECT g.relates_to, g.latest, g.n, g.mine, e.event_nid FROM (SELECT r.relates_to AS "
        "relates_to, MAX(r.stream_pos) AS latest, COUNT(*) AS n, MAX(CASE WHEN c.sender = $2 "
        "THEN 1 ELSE 0 END) AS mine FROM event_relations r JOIN events c ON c.event_nid = "
        "r.event_nid WHERE r.room_nid = $1 AND r.rel_type = 'm.thread' AND r.stream_pos <= $3 "
        "AND c.redacted_by IS NULL AND r.relates_to IN (";
    sql::AppendList(
        sql, params, parent_ids.begin() + static_cast<std::ptrdiff_t>(i),
        parent_ids.begin() + static_cast<std::ptrdiff_t>(std::min(parent_ids.size(), i + kBatch)));
    sql += ") GROUP BY r.relates_to) g JOIN events e ON e.stream_pos = g.latest";
    for (const auto& r : tx.Query(sql, params).rows) {
      // `participated` here counts replies only; the caller knows the root.
      out.push_back({r.Text(0), 0, r.Int(1), r.Int(4), r.Int(2), r.Bool(3)});
    }
  }
  return out;
}

std::vector<RelatedChild> RelationStore::ChildrenOf(sql::Tx& tx, std::int64_t room_nid,
                                                    const std::vector<std::string>& parent_ids,
                                                    const std::vector<std::string>& rel_types,
                                                    std::int64_t upto) {
  std::vector<RelatedChild> out;
  if (rel_types.empty()) return out;
  for (std::size_t i = 0; i < parent_ids.size(); i += kBatch) {
    std::vector<sql::Value> params = {room_nid, upto};
    std::string sql =
        "SELECT r.relates_to, r.rel_type, c.event_nid, c.event_id, c.sender, c.type, "
        "c.state_key IS NOT NULL, c.origin_server_ts, r.stream_pos FROM event_relations r "
        "JOIN events c ON c.event_nid = r.event_nid WHERE r.room_nid = $1 AND r.stream_pos <= "
        "$2 AND c.redacted_by IS NULL AND r.rel_type IN (";
    sql::AppendList(sql, params, rel_types.begin(), rel_types.end());
    sql += ") AND r.relates_to IN (";
    sql::AppendList(
        sql, params, parent_ids.begin() + static_cast<std::ptrdiff_t>(i),
        parent_ids.begin() + static_cast<std::ptrdiff_t>(std::min(parent_ids.size(), i + kBatch)));
    sql += ") ORDER BY r.stream_pos";
    for (const auto& r : tx.Query(sql, params).rows) {
      out.push_back({r.Text(0), r.Text(1), r.Int(2), r.Text(3), r.Text(4), r.Text(5), r.Bool(6),
                     r.Int(7), r.Int(8)});
    }
  }
  return out;
}

}  // namespace vigie::storage
