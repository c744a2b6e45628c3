// vigie-micro: the time of vigie's hot-path pieces, one at a time, in this
// process (no server, no sockets; the storage cases write a scratch SQLite
// file). It measures, never asserts.
//
// Why: on this shared 2-core machine the fanout rate of one build moved
// between 4,300 and 7,900 events/s from one minute to the next, so
// bench/compare.sh cannot see a change below about 10%, and what is left
// to take off the hot path comes in pieces of 1-5%. A piece timed alone
// keeps its median and fastest round within about 5% in one run; the
// machine's speed still moves between runs, so compare builds by running
// them in turn (bench/README.md).
//
// Each case runs in rounds of a fixed number of calls, sized so that a
// round takes about a fifth of --min-time-ms; the median and the fastest
// round are printed, in nanoseconds per call.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "api/client_event.h"
#include "common/canonical_json.h"
#include "common/json.h"
#include "events/event.h"
#include "events/event_builder.h"
#include "events/signing.h"
#include "http/message.h"
#include "service/auth_service.h"
#include "storage/migrations.h"
#include "storage/room_store.h"
#include "storage/sql.h"

namespace {

namespace bj = boost::json;
using namespace vigie;
using Clock = std::chrono::steady_clock;

// Keeps what a case computes from being optimised away.
std::size_t g_sink = 0;

struct Case {
  std::string name;
  std::string what;
  std::function<void(std::size_t)> run;  // one call; the argument is its number
};

struct Result {
  std::string name;
  std::string what;
  double median_ns = 0;
  double min_ns = 0;
  std::size_t rounds = 0;
  std::size_t calls = 0;  // per round
};

double RoundNs(const Case& c, std::size_t calls) {
  const auto start = Clock::now();
  for (std::size_t i = 0; i < calls; ++i) c.run(i);
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

Result Measure(const Case& c, double min_time_ms) {
  constexpr std::size_t kRounds = 5;
  const double round_ns = min_time_ms * 1e6 / kRounds;
  c.run(0);  // warm caches (the client-event parts, allocator arenas)
  std::size_t calls = 1;
  for (double t = RoundNs(c, calls); t < round_ns / 4 && calls < (std::size_t{1} << 30);
       t = RoundNs(c, calls)) {
    calls *= t > 0 ? std::clamp<std::size_t>(static_cast<std::size_t>(round_ns / t), 2, 16) : 16;
  }
  std::vector<double> per_call;
  for (std::size_t r = 0; r < kRounds; ++r) {
    per_call.push_back(RoundNs(c, calls) / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  return {c.name, c.what, per_call[kRounds / 2], per_call.front(), kRounds, calls};
}

// A message as the fanout sends it, in a v12 room, with a writer's
// typical prev and auth events.
events::EventDraft MessageDraft(std::size_t n) {
  events::EventDraft d;
  d.room_id = "!Xk3fQ9sLmW2pR8vTbN6yHcJ4gA1dE7uZ0oIqK5hVxYs";
  d.sender = "@fanout-user-117:localhost";
  d.type = "m.room.message";
  d.content = bj::object{{"msgtype", "m.text"},
                         {"body", "vigie-bench fanout message " + std::to_string(n)}};
  d.prev_events = {"$Qm7Rz2KpW9sTfLx4NbV8cHjY1gD6uE3oA0iZ5kXyMqs"};
  d.auth_events = {"$Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3AbCd",
                   "$Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2Wx3Yz4Ab5Cd6EfGh",
                   "$Ij7Kl8Mn9Op0Qr1St2Uv3Wx4Yz5Ab6Cd7Ef8Gh9IjKl"};
  d.depth = 1000 + static_cast<std::int64_t>(n);
  d.origin_server_ts = 1'765'000'000'000 + static_cast<std::int64_t>(n);
  return d;
}

// Events stored as the writer's group commit stores them, in a SQLite
// database of vigie's schema in a scratch file (WAL, synchronous NORMAL:
// no fsync at commit, so the time is the CPU's): the events table's row
// and indexes, a batch of 64 per transaction. The file goes at exit.
class EventTable {
 public:
  static constexpr std::size_t kBatch = 64;
  EventTable()
      : path_(
            (std::filesystem::temp_directory_path() / ("vigie-micro-" + std::to_string(::getpid()) +
                                                       "-" + std::to_string(++tables_) + ".db"))
                .string()),
        db_(sql::OpenSqlite({.path = path_, .readers = 1, .synchronous = "NORMAL"})) {
    storage::Migrate(*db_);
    db_->Write([&](sql::Tx& tx) {
      storage::RoomRecord room;
      room.room_id = "!micro:localhost";
      room.room_version = "12";
      room.creator = "@fanout-user-117:localhost";
      room_nid_ = storage::RoomStore::CreateRoom(tx, room);
    });
  }
  ~EventTable() {
    db_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::remove(path_ + suffix, ec);
    }
  }
  // With `savepoints`, each row in its own, as Stream runs each write of a
  // batch (so that one that fails is undone alone).
  void InsertBatch(const storage::EventRecord& like, bool savepoints) {
    db_->Write([&](sql::Tx& tx) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        storage::EventRecord e = like;
        e.event_nid = e.stream_pos = ++last_;
        e.event_id = "$micro" + std::to_string(last_);
        e.room_nid = room_nid_;
        if (savepoints) tx.Defer("SAVEPOINT micro_write");
        storage::RoomStore::InsertEvent(tx, e);
        if (savepoints) tx.Defer("RELEASE SAVEPOINT micro_write");
      }
    });
  }

 private:
  static inline int tables_ = 0;  // each its own file
  std::string path_;
  std::unique_ptr<sql::Database> db_;
  std::int64_t room_nid_ = 0;
  std::int64_t last_ = 0;
};

// A storage case: batches of `like` into its own scratch table, made on
// first use (a case the filter leaves out makes none) and gone with it.
Case InsertCase(std::string name, std::string what, const storage::EventRecord& like,
                bool savepoints) {
  auto table = std::make_shared<std::unique_ptr<EventTable>>();
  return {std::move(name), std::move(what), [table, &like, savepoints](std::size_t) {
            if (!*table) *table = std::make_unique<EventTable>();
            (*table)->InsertBatch(like, savepoints);
            g_sink += EventTable::kBatch;
          }};
}

std::vector<Case> Cases() {
  static const auto key = events::SigningKey::Generate("a_micro");
  static const events::RoomVersion& version = events::RoomVersionOrThrow("12");
  static const events::BuiltEvent built =
      events::BuildEvent(version, MessageDraft(0), "localhost", key);
  static const std::string signing_bytes = events::SigningBytes(events::Redact(version, built.pdu));
  static const storage::EventRecord record = [] {
    storage::EventRecord e;
    e.event_nid = 1;
    e.event_id = built.event_id;
    e.room_nid = 1;
    e.stream_pos = 1;
    e.depth = 1000;
    e.type = "m.room.message";
    e.sender = "@fanout-user-117:localhost";
    e.origin_server_ts = 1'765'000'000'000;
    e.txn_id = "m1765000000000.117";
    e.device_id = "BENCHDEVICE";
    e.json = built.json;
    return e;
  }();
  static const service::Requester receiver = [] {
    service::Requester r;
    r.user_id = "@fanout-user-118:localhost";
    r.device_id = "OTHERDEVICE";
    return r;
  }();
  static const std::string token = "syt_ZmFub3V0LXVzZXItMTE3_aBcDeFgHiJkLmNoPqRsT_1a2B3c";
  const std::string room_id = built.room_id;
  return {
      {"event.build", "BuildEvent: a message's PDU hashed, signed, checked and encoded",
       [](std::size_t n) {
         g_sink += events::BuildEvent(version, MessageDraft(n), "localhost", key).json.size();
       }},
      {"event.sign", "Ed25519 signature of the message's signing bytes (part of event.build)",
       [](std::size_t) { g_sink += key.Sign(signing_bytes).size(); }},
      {"event.content_hash", "SHA-256 content hash: one canonical encoding and the hash",
       [](std::size_t) { g_sink += events::ContentHash(built.pdu).size(); }},
      {"event.canonical_json", "canonical JSON of the whole PDU, as stored",
       [](std::size_t) { g_sink += CanonicalJson(built.pdu).size(); }},
      {"pdu.parse", "parsing the stored PDU text (a client-event cache miss)",
       [](std::size_t) { g_sink += json::ParseObject(record.json).size(); }},
      {"sync.client_event", "AppendClientEvent: one event for one receiver of a sync",
       [room_id](std::size_t) {
         std::string out;
         api::AppendClientEvent(out, record, room_id, {&receiver, false});
         g_sink += out.size();
       }},
      {"sync.client_event_recent",
       "the same, for one of the newest 4,096 events in turn (as receivers ask for them)",
       [room_id](std::size_t n) {
         static const std::vector<storage::EventRecord> recent = [] {
           std::vector<storage::EventRecord> all(4096, record);
           for (std::size_t i = 0; i < all.size(); ++i) {
             all[i].event_nid = all[i].stream_pos = static_cast<std::int64_t>(i) + 1;
             all[i].event_id = "$recent" + std::to_string(i);
           }
           return all;
         }();
         std::string out;
         // A stride prime to 4,096: every event in turn, never its neighbour.
         api::AppendClientEvent(out, recent[(n * 2053) % recent.size()], room_id,
                                {&receiver, false});
         g_sink += out.size();
       }},
      {"sync.client_event_new",
       "the same, for an event this thread has not served yet (its content found in the PDU, "
       "its shared members written; a copy of the record included)",
       [room_id](std::size_t) {
         static std::int64_t next = std::int64_t{1} << 40;
         storage::EventRecord e = record;
         e.event_nid = e.stream_pos = ++next;
         std::string out;
         api::AppendClientEvent(out, e, room_id, {&receiver, false});
         g_sink += out.size();
       }},
      {"sync.client_event_object", "ClientEvent built as an object and serialised",
       [room_id](std::size_t) {
         g_sink += bj::serialize(api::ClientEvent(record, room_id, {&receiver, false})).size();
       }},
      InsertCase("storage.insert_64_events",
                 "64 message events into SQLite's events table, one transaction (per batch)",
                 record, false),
      InsertCase("storage.insert_64_events_savepoints",
                 "the same, each row in its own savepoint as the group commit runs writes (per "
                 "batch)",
                 record, true),
      {"http.parse_query", "a fanout member's /sync query string split and percent-decoded",
       [](std::size_t) {
         static const std::string query =
             "timeout=30000&filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A100%7D%7D%"
             "7D&since=s1234567_0";
         g_sink += http::ParseQuery(query).size();
       }},
      {"auth.hash_token", "the SHA-256 hex of an access token, once per request",
       [](std::size_t) { g_sink += service::AuthService::HashToken(token).size(); }},
  };
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vigie-micro: the time of vigie's hot-path pieces, in ns per call"};
  double min_time_ms = 500;
  std::string filter;
  bool json_out = false;
  app.add_option("--min-time-ms", min_time_ms, "time per case, in five rounds")
      ->check(CLI::PositiveNumber);
  app.add_option("--filter", filter, "only the cases whose name contains this");
  app.add_flag("--json", json_out, "print a JSON array instead of the table");
  CLI11_PARSE(app, argc, argv);

  std::vector<Result> results;
  for (const Case& c : Cases()) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    results.push_back(Measure(c, min_time_ms));
    if (!json_out) {
      const Result& r = results.back();
      std::printf("%-26s %10.0f ns  (fastest %.0f; %zu rounds of %zu)  %s\n", r.name.c_str(),
                  r.median_ns, r.min_ns, r.rounds, r.calls, r.what.c_str());
      std::fflush(stdout);
    }
  }
  if (json_out) {
    bj::array out;
    for (const Result& r : results) {
      out.push_back(bj::object{{"case", r.name},
                               {"median_ns", r.median_ns},
                               {"min_ns", r.min_ns},
                               {"rounds", r.rounds},
                               {"calls_per_round", r.calls}});
    }
    std::cout << bj::serialize(out) << "\n";
  }
  if (results.empty()) {
    std::cerr << "vigie-micro: no case matches '" << filter << "'\n";
    return 2;
  }
  return g_sink == 0 ? 1 : 0;  // never 0: every case produces bytes
}
