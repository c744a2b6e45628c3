// The fanout scenario: U users in R rooms of K members, S senders, every
// member long-polling /sync. Measures send and delivery rates and the
// send-to-delivery latency, and checks that each event sent reaches each
// member of its room exactly once.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "bench/runtime.h"
#include "bench/scenario_util.h"

namespace vigie::bench {
namespace {

struct Room {
  std::string id;
  std::vector<std::uint32_t> members;  // user indexes; members[0] created it
  std::atomic<std::uint32_t> next_seq{0};
  std::mutex mu;
  std::vector<std::uint8_t> acked;  // by seq: 0 in flight, 1 sent, 2 failed
};

struct Receiver {
  std::uint32_t user = 0;
  std::vector<std::pair<std::uint32_t, Bits>> rooms;  // room index, seqs seen
  std::unique_ptr<Conn> conn;

  Bits* Find(std::uint32_t room) {
    for (auto& [r, bits] : rooms) {
      if (r == room) return &bits;
    }
    return nullptr;
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Counters {
  std::atomic<std::uint64_t> sent_ok{0}, sent_failed{0}, delivered{0}, duplicates{0}, unexpected{0},
      limited{0}, syncs{0}, initial_failed{0}, initial_missing_rooms{0};
};

struct Shared {
  Runtime& rt;
  const std::vector<Account>& accounts;
  std::vector<std::unique_ptr<Room>>& rooms;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> index;
  std::string filter;  // URL-encoded
  Counters c;
  std::atomic<bool> stop_syncing{false};
};

// Counts the bench events of one /sync answer for `rx`. `incremental`: a
// long-poll answer, whose limited timelines mean events were skipped.
void Deliver(Shared& sh, Receiver& rx, const bj::value& sync, std::int64_t now_ns,
             Histogram& latency, bool incremental) {
  const bj::object* join = Obj(Obj(AsObj(sync), "rooms"), "join");
  if (!join) return;
  for (const auto& [room_id, room] : *join) {
    auto it = sh.index.find(std::string_view(room_id));
    if (it == sh.index.end()) continue;
    const bj::object* timeline = Obj(AsObj(room), "timeline");
    if (const bj::value* l = timeline ? timeline->if_contains("limited") : nullptr;
        incremental && l && l->is_bool() && l->get_bool()) {
      sh.c.limited.fetch_add(1, std::memory_order_relaxed);
    }
    const bj::array* events = Arr(timeline, "events");
    if (!events) continue;
    Bits* bits = rx.Find(it->second);
    for (const auto& e : *events) {
      Marker m;
      if (!ReadMarker(e, m)) continue;
      if (!bits || m.room != it->second) {
        sh.c.unexpected.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (bits->TestAndSet(m.seq)) {
        sh.c.duplicates.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      sh.c.delivered.fetch_add(1, std::memory_order_relaxed);
      latency.Record((now_ns - m.send_ns) / 1000);
    }
  }
}

// One member: an initial sync (then `ready`), then long-polls until
// stop_syncing.
asio::awaitable<void> Syncer(Shared& sh, Receiver& rx, Latch& ready) {
  const Options& o = sh.rt.opt();
  const std::string& token = sh.accounts[rx.user].token;
  std::string path = SyncPath(0, sh.filter, "");
  Response r = co_await rx.conn->Request(Method::kGet, path, {}, token);
  std::string since;
  bool ok = false;
  if (sh.rt.matrix().Check(r, "initial sync")) {
    bj::value v = ParseFast(r.body, &ok);
    since = Str(AsObj(v), "next_batch");
    const bj::object* join = Obj(Obj(AsObj(v), "rooms"), "join");
    for (const auto& [room, bits] : rx.rooms) {
      if (!join || !join->contains(sh.rooms[room]->id)) {
        sh.c.initial_missing_rooms.fetch_add(1, std::memory_order_relaxed);
      }
    }
    Deliver(sh, rx, v, NowNs(), sh.rt.Hist(kHistA), false);
  }
  if (!ok || since.empty()) {
    sh.c.initial_failed.fetch_add(1, std::memory_order_relaxed);
    ready.CountDown();
    co_return;
  }
  sh.rt.StepDone();
  ready.CountDown();

  asio::steady_timer backoff(co_await asio::this_coro::executor);
  const auto timeout = std::chrono::milliseconds(o.sync_timeout_ms) + std::chrono::seconds(30);
  while (!sh.stop_syncing.load(std::memory_order_acquire)) {
    path = SyncPath(o.sync_timeout_ms, sh.filter, since);
    r = co_await rx.conn->Request(Method::kGet, path, {}, token, timeout);
    if (!r.ok()) {
      if (sh.stop_syncing.load(std::memory_order_acquire)) break;
      sh.rt.matrix().Check(r, "sync");
      backoff.expires_after(std::chrono::milliseconds(200));
      boost::system::error_code ec;
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const std::int64_t now = NowNs();
    bj::value v = ParseFast(r.body, &ok);
    if (!ok) {
      sh.rt.errors().Record("sync: bad JSON", r.body);
      continue;
    }
    Deliver(sh, rx, v, now, sh.rt.Hist(kHistA), true);
    std::string next = Str(AsObj(v), "next_batch");
    if (!next.empty()) since = std::move(next);
    sh.c.syncs.fetch_add(1, std::memory_order_relaxed);
  }
}

// One sender: PUTs messages into its room until `end`, paced to `rate`
// messages/s when rate > 0. Its first send waits `phase` (0 to 1) of an
// interval, so that paced senders spread their sends evenly instead of all
// firing together.
asio::awaitable<void> Sender(Shared& sh, std::size_t s, std::chrono::steady_clock::time_point end,
                             double rate, double phase) {
  const Options& o = sh.rt.opt();
  const auto r = static_cast<std::uint32_t>(s % sh.rooms.size());
  Room& room = *sh.rooms[r];
  const Account& a = sh.accounts[room.members[(s / sh.rooms.size()) % room.members.size()]];
  auto conn = sh.rt.NewConn(s);
  asio::steady_timer pace(co_await asio::this_coro::executor);
  const std::string base = RoomPath(room.id, "/send/m.room.message/") +
                           UrlEncode(o.user_prefix + "s" + std::to_string(s) + "-");
  std::string path, body;
  path.reserve(base.size() + 16);
  body.reserve(128);
  const auto interval =
      std::chrono::nanoseconds(rate > 0 ? static_cast<std::int64_t>(1e9 / rate) : std::int64_t{0});
  auto next = std::chrono::steady_clock::now() +
              std::chrono::nanoseconds(static_cast<std::int64_t>(
                  static_cast<double>(interval.count()) * std::clamp(phase, 0.0, 1.0)));
  for (std::uint64_t n = 0;; ++n) {
    auto now = std::chrono::steady_clock::now();
    if (interval.count() > 0) {
      if (next > now) {
        pace.expires_at(next);
        boost::system::error_code ec;
        co_await pace.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        now = std::chrono::steady_clock::now();
      }
      // Fall behind by at most a second rather than bursting to catch up.
      next = std::max(next + interval, now - std::chrono::seconds(1));
    }
    if (now >= end) break;
    const std::uint32_t seq = room.next_seq.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(room.mu);
      if (room.acked.size() <= seq) room.acked.resize(seq + 1, 0);
    }
    path = base;
    path += std::to_string(n);
    const std::int64_t t0 = NowNs();
    BenchBody(body, r, seq, t0);
    Response resp = co_await conn->Request(Method::kPut, path, body, a.token);
    sh.rt.Hist(kHistB).Record((NowNs() - t0) / 1000);
    const bool ok = sh.rt.matrix().Check(resp, "send");
    {
      std::lock_guard lock(room.mu);
      room.acked[seq] = ok ? 1 : 2;
    }
    (ok ? sh.c.sent_ok : sh.c.sent_failed).fetch_add(1, std::memory_order_relaxed);
  }
}

asio::awaitable<void> Sleep(double seconds) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds)));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

double Round(double v, double unit = 0.01) { return std::round(v / unit) * unit; }

}  // namespace

asio::awaitable<void> Fanout(Runtime& rt, Report& report) {
  const Options& o = rt.opt();
  const auto U = static_cast<std::size_t>(o.users);
  const auto R = static_cast<std::size_t>(o.rooms);
  const auto K = static_cast<std::size_t>(o.members);
  const auto S = static_cast<std::size_t>(o.senders);
  if (U < 1 || R < 1 || K < 1 || K > U || S < 1) {
    report.Fail("fanout needs 1 <= members <= users, rooms >= 1, senders >= 1");
    co_return;
  }
  const auto conc = static_cast<std::size_t>(o.setup_concurrency);
  report.results["params"] = {{"users", U},           {"rooms", R},
                              {"members", K},         {"senders", S},
                              {"rate", o.rate},       {"duration_s", o.duration_s},
                              {"threads", o.threads}, {"timeline_limit", o.timeline_limit}};

  std::vector<Account> accounts = co_await rt.RegisterUsers(report, U, "f");
  if (accounts.empty()) co_return;

  // Room r has members (r*K + j) % U, j < K: rooms overlap when R*K > U.
  std::vector<std::unique_ptr<Room>> rooms;
  for (std::size_t r = 0; r < R; ++r) {
    auto room = std::make_unique<Room>();
    for (std::size_t j = 0; j < K; ++j) {
      room->members.push_back(static_cast<std::uint32_t>((r * K + j) % U));
    }
    rooms.push_back(std::move(room));
  }
  std::atomic<std::size_t> failed{0};
  rt.BeginPhase("create rooms", R);
  const std::string create = R"({"preset":"public_chat","name":"vigie-bench fanout"})";
  co_await rt.Parallel(R, conc, [&](Conn& c, std::size_t r) -> asio::awaitable<void> {
    auto id = co_await rt.matrix().CreateRoom(c, accounts[rooms[r]->members[0]], create);
    if (id) {
      rooms[r]->id = *id;
    } else {
      failed.fetch_add(1);
    }
  });
  rt.EndPhase(report);
  if (failed.load() > 0) {
    report.Fail("room creation failed");
    co_return;
  }
  // Joins interleave rooms so that concurrent joins hit different rooms.
  rt.BeginPhase("join", R * (K - 1));
  co_await rt.Parallel(R * (K - 1), conc, [&](Conn& c, std::size_t i) -> asio::awaitable<void> {
    const Room& room = *rooms[i % R];
    const bool ok = co_await rt.matrix().Join(c, accounts[room.members[1 + i / R]], room.id);
    if (!ok) failed.fetch_add(1);
  });
  rt.EndPhase(report);
  if (failed.load() > 0) {
    report.Fail("joins failed");
    co_return;
  }

  Shared sh{rt, accounts, rooms, {}, {}, {}, {}};
  for (std::size_t r = 0; r < R; ++r) sh.index[rooms[r]->id] = static_cast<std::uint32_t>(r);
  sh.filter = UrlEncode(o.sync_filter.empty() ? R"({"room":{"timeline":{"limit":)" +
                                                    std::to_string(o.timeline_limit) + "}}}"
                                              : o.sync_filter);
  std::vector<int> rx_of_user(U, -1);
  std::vector<std::unique_ptr<Receiver>> rxs;
  for (std::size_t r = 0; r < R; ++r) {
    for (std::uint32_t u : rooms[r]->members) {
      if (rx_of_user[u] < 0) {
        rx_of_user[u] = static_cast<int>(rxs.size());
        auto rx = std::make_unique<Receiver>();
        rx->user = u;
        rx->conn = rt.NewConn(rxs.size());
        rxs.push_back(std::move(rx));
      }
      rxs[rx_of_user[u]]->rooms.emplace_back(static_cast<std::uint32_t>(r), Bits());
    }
  }

  // Every member syncs once, then long-polls; sending starts when all have
  // their first token.
  auto ex = co_await asio::this_coro::executor;
  Latch ready(ex, rxs.size());
  Latch syncers_done(ex, rxs.size());
  rt.BeginPhase("initial sync", rxs.size());
  for (std::size_t i = 0; i < rxs.size(); ++i) {
    asio::co_spawn(
        rxs[i]->conn->executor(),
        [&sh, &ready, rx = rxs[i].get()]() -> asio::awaitable<void> {
          co_await Syncer(sh, *rx, ready);
        },
        syncers_done.OnDone(rt.errors()));
  }
  co_await ready.Wait();
  rt.EndPhase(report);
  const bool setup_ok = sh.c.initial_failed.load() == 0 && sh.c.initial_missing_rooms.load() == 0;
  if (!setup_ok) {
    report.Fail(std::to_string(sh.c.initial_failed.load()) + " initial syncs failed, " +
                std::to_string(sh.c.initial_missing_rooms.load()) +
                " joined rooms missing from initial syncs");
  }

  // Send for the duration.
  const double start_s = NowSeconds();
  const double cpu0 = SelfCpuSeconds();
  auto server0 = rt.Server();
  std::uint64_t delivered_at_end = 0;
  if (setup_ok) {
    rt.BeginPhase("send", 0);
    Latch senders_done(ex, S);
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::duration<double>(o.duration_s));
    for (std::size_t s = 0; s < S; ++s) {
      asio::co_spawn(
          rt.executor(s),
          [&sh, s, end, rate = o.rate / static_cast<double>(S),
           phase = static_cast<double>(s) / static_cast<double>(S)]() -> asio::awaitable<void> {
            co_await Sender(sh, s, end, rate, phase);
          },
          senders_done.OnDone(rt.errors()));
    }
    struct Last {
      double t;
      std::uint64_t sent, delivered;
    };
    auto last = std::make_shared<Last>(Last{NowSeconds(), 0, 0});
    rt.SetProgress([&sh, last] {
      const double now = NowSeconds();
      const std::uint64_t sent = sh.c.sent_ok.load(), delivered = sh.c.delivered.load();
      const double dt = std::max(now - last->t, 1e-3);
      char buf[200];
      std::snprintf(buf, sizeof buf, "fanout: sent %.0f/s delivered %.0f/s (total %llu / %llu)",
                    (sent - last->sent) / dt, (delivered - last->delivered) / dt,
                    static_cast<unsigned long long>(sent),
                    static_cast<unsigned long long>(delivered));
      *last = {now, sent, delivered};
      return std::string(buf);
    });
    co_await senders_done.Wait();
    delivered_at_end = sh.c.delivered.load();
  }
  const double send_s = NowSeconds() - start_s;
  const double cpu_send = SelfCpuSeconds() - cpu0;
  auto server1 = rt.Server();

  // Let deliveries catch up, then stop the long-polls.
  const double drain_start = NowSeconds();
  while (setup_ok && sh.c.delivered.load() < sh.c.sent_ok.load() * K &&
         NowSeconds() - drain_start < o.drain_s) {
    co_await Sleep(0.02);
  }
  const double drain_s = NowSeconds() - drain_start;
  rt.EndPhase(report);
  sh.stop_syncing.store(true, std::memory_order_release);
  for (auto& rx : rxs) {
    Conn* c = rx->conn.get();
    asio::post(c->executor(), [c] { c->Close(); });
  }
  co_await syncers_done.Wait();

  // Exactly-once check, from each member's record of what it saw.
  std::uint64_t expected = 0, seen = 0, missing = 0, failed_but_seen = 0;
  for (std::size_t r = 0; r < R; ++r) {
    const Room& room = *rooms[r];
    for (std::uint32_t q = 0; q < room.acked.size(); ++q) {
      for (std::uint32_t u : room.members) {
        const bool got = rxs[rx_of_user[u]]->Find(static_cast<std::uint32_t>(r))->Test(q);
        if (room.acked[q] == 1) {
          ++expected;
          got ? ++seen : ++missing;
        } else if (got) {
          ++failed_but_seen;
        }
      }
    }
  }
  const std::uint64_t sent_ok = sh.c.sent_ok.load();
  Histogram latency = rt.Merged(kHistA);
  Histogram send_latency = rt.Merged(kHistB);
  auto& res = report.results;
  res["sent"] = sent_ok;
  res["send_failed"] = sh.c.sent_failed.load();
  res["sent_per_s"] = Round(sent_ok / std::max(send_s, 1e-9), 0.1);
  res["delivered"] = sh.c.delivered.load();
  res["delivered_during_send"] = delivered_at_end;
  res["delivered_per_s"] = Round(delivered_at_end / std::max(send_s, 1e-9), 0.1);
  res["expected_deliveries"] = expected;
  res["missing"] = missing;
  res["duplicates"] = sh.c.duplicates.load();
  res["unexpected"] = sh.c.unexpected.load();
  res["failed_sends_delivered"] = failed_but_seen;
  res["limited_timelines"] = sh.c.limited.load();
  res["syncs"] = sh.c.syncs.load();
  res["send_seconds"] = Round(send_s, 0.001);
  res["drain_seconds"] = Round(drain_s, 0.001);
  res["delivery_latency_ms"] = latency.ToJson();
  res["send_latency_ms"] = send_latency.ToJson();
  res["bench_cpu_percent"] = Round(100.0 * cpu_send / std::max(send_s, 1e-9), 0.1);
  if (server0 && server1) {
    res["server_cpu_percent"] = Round(CpuPercent(*server0, *server1), 0.1);
    res["server_rss_kib"] = server1->rss_kib;
  }

  char buf[256];
  std::snprintf(buf, sizeof buf,
                "sent %llu in %.1f s: %.0f/s (%llu failed); delivered %.0f/s during sending "
                "(%llu deliveries, K=%zu)",
                static_cast<unsigned long long>(sent_ok), send_s, sent_ok / std::max(send_s, 1e-9),
                static_cast<unsigned long long>(sh.c.sent_failed.load()),
                delivered_at_end / std::max(send_s, 1e-9),
                static_cast<unsigned long long>(sh.c.delivered.load()), K);
  report.lines.push_back(buf);
  report.lines.push_back("delivery latency: " + latency.Summary());
  report.lines.push_back("send (PUT) latency: " + send_latency.Summary());
  std::snprintf(buf, sizeof buf,
                "exactly-once: expected %llu, seen %llu, missing %llu, duplicates %llu, "
                "unexpected %llu; limited timelines %llu; drain %.2f s",
                static_cast<unsigned long long>(expected), static_cast<unsigned long long>(seen),
                static_cast<unsigned long long>(missing),
                static_cast<unsigned long long>(sh.c.duplicates.load()),
                static_cast<unsigned long long>(sh.c.unexpected.load()),
                static_cast<unsigned long long>(sh.c.limited.load()), drain_s);
  report.lines.push_back(buf);
  if (res.contains("server_cpu_percent")) {
    std::snprintf(buf, sizeof buf, "cpu while sending: server %.0f%%, bench %.0f%% (of one core)",
                  res["server_cpu_percent"].as_double(), res["bench_cpu_percent"].as_double());
  } else {
    std::snprintf(buf, sizeof buf, "cpu while sending: bench %.0f%% (of one core)",
                  res["bench_cpu_percent"].as_double());
  }
  report.lines.push_back(buf);

  if (setup_ok && sent_ok == 0) report.Fail("no event was sent");
  if (missing > 0) {
    report.Fail(
        std::to_string(missing) + " deliveries missing" +
        (sh.c.limited.load() > 0 ? " (timelines were limited: raise --timeline-limit)" : ""));
  }
  if (sh.c.duplicates.load() > 0) {
    report.Fail(std::to_string(sh.c.duplicates.load()) + " duplicate deliveries");
  }
  if (sh.c.unexpected.load() > 0) {
    report.Fail(std::to_string(sh.c.unexpected.load()) + " events in the wrong room");
  }
}

}  // namespace vigie::bench
