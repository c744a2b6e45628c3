// The one-shot scenarios: login, initial-sync, join-big-room, history.
#include <array>
#include <boost/asio/this_coro.hpp>
#include <cmath>

#include "bench/runtime.h"
#include "bench/scenario_util.h"

namespace vigie::bench {
namespace {

double Ms(std::int64_t ns) { return std::round(static_cast<double>(ns) / 1e3) / 1e3; }
double Round(double v, double unit = 0.1) { return std::round(v / unit) * unit; }

std::string Fmt(const char* fmt, auto... args) {
  char buf[320];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

struct Timed {
  Response response;
  std::int64_t ns = 0;
};

asio::awaitable<Timed> TimedRequest(Conn& c, Method m, const std::string& path,
                                    std::string_view body, const std::string& token) {
  const std::int64_t t0 = NowNs();
  Timed t;
  t.response = co_await c.Request(m, path, body, token, std::chrono::minutes(10));
  t.ns = NowNs() - t0;
  co_return t;
}

// Sends events [0, n) into `rooms` (item i goes to room i % rooms.size()),
// with the setup concurrency, in a phase named `phase`. Returns the number
// that failed.
asio::awaitable<std::size_t> Fill(Runtime& rt, Report& report, const Account& a,
                                  const std::vector<std::string>& rooms, std::size_t n,
                                  std::size_t workers, const std::string& phase) {
  rt.BeginPhase(phase, n);
  std::atomic<std::size_t> failed{0};
  const std::string txn_prefix = UrlEncode(rt.opt().user_prefix + phase.substr(0, 1));
  co_await rt.Parallel(n, workers, [&](Conn& c, std::size_t i) -> asio::awaitable<void> {
    const auto r = static_cast<std::uint32_t>(i % rooms.size());
    std::string body;
    BenchBody(body, r, static_cast<std::uint32_t>(i / rooms.size()), 0);
    std::string path =
        RoomPath(rooms[r], "/send/m.room.message/") + txn_prefix + "-" + std::to_string(i);
    Response resp = co_await c.Request(Method::kPut, path, body, a.token);
    if (!rt.matrix().Check(resp, "send")) failed.fetch_add(1);
  });
  rt.EndPhase(report);
  co_return failed.load();
}

}  // namespace

asio::awaitable<void> LoginBurst(Runtime& rt, Report& report) {
  const Options& o = rt.opt();
  const auto N = static_cast<std::size_t>(o.logins);
  const auto M = static_cast<std::size_t>(std::max(1, o.login_concurrency));
  report.results["params"] = {{"logins", N}, {"concurrency", M}};
  std::vector<Account> accounts = co_await rt.RegisterUsers(report, N, "l");
  if (accounts.empty()) co_return;

  std::atomic<std::size_t> failed{0};
  rt.BeginPhase("login", N);
  const double t0 = NowSeconds();
  co_await rt.Parallel(N, M, [&](Conn& c, std::size_t i) -> asio::awaitable<void> {
    const std::int64_t s = NowNs();
    auto a = co_await rt.matrix().Login(c, accounts[i].localpart, o.password);
    rt.Hist(kHistA).Record((NowNs() - s) / 1000);
    if (!a) failed.fetch_add(1);
  });
  const double dt = NowSeconds() - t0;
  rt.EndPhase(report);
  Histogram h = rt.Merged(kHistA);
  report.results["logins_per_s"] = Round(N / std::max(dt, 1e-9));
  report.results["seconds"] = Round(dt, 0.001);
  report.results["failed"] = failed.load();
  report.results["latency_ms"] = h.ToJson();
  report.lines.push_back(Fmt("%zu logins (concurrency %zu) in %.2f s: %.1f logins/s, %zu failed", N,
                             M, dt, N / std::max(dt, 1e-9), failed.load()));
  report.lines.push_back("login latency: " + h.Summary());
  if (failed.load() > 0) report.Fail(std::to_string(failed.load()) + " logins failed");
}

asio::awaitable<void> InitialSync(Runtime& rt, Report& report) {
  const Options& o = rt.opt();
  const auto N = static_cast<std::size_t>(o.rooms);
  const auto M = static_cast<std::size_t>(o.events);
  const auto conc = static_cast<std::size_t>(o.setup_concurrency);
  report.results["params"] = {{"rooms", N}, {"events_per_room", M}};
  std::vector<Account> accounts = co_await rt.RegisterUsers(report, 1, "s");
  if (accounts.empty()) co_return;
  const Account& a = accounts[0];

  std::vector<std::string> rooms(N);
  std::atomic<std::size_t> failed{0};
  rt.BeginPhase("create rooms", N);
  co_await rt.Parallel(N, conc, [&](Conn& c, std::size_t i) -> asio::awaitable<void> {
    // Identical createRoom bodies are what clients send; --unique-rooms adds
    // a nonce to the m.room.create content for servers whose room ids
    // collide when one user creates two rooms in the same millisecond.
    std::string create = R"({"preset":"private_chat","name":"vigie-bench sync")";
    if (o.unique_rooms)
      create += R"(,"creation_content":{"vigie_bench_nonce":)" + std::to_string(i) + "}";
    create += "}";
    auto id = co_await rt.matrix().CreateRoom(c, a, create);
    if (id) {
      rooms[i] = *id;
    } else {
      failed.fetch_add(1);
    }
  });
  rt.EndPhase(report);
  if (failed.load() > 0) {
    report.Fail("room creation failed");
    co_return;
  }
  const std::size_t send_failed = co_await Fill(rt, report, a, rooms, N * M, conc, "send");
  if (send_failed > 0) {
    report.Fail("sends failed");
    co_return;
  }

  auto conn = rt.NewConn(0);
  const std::string filter = o.sync_filter.empty() ? "" : UrlEncode(o.sync_filter);
  auto& res = report.results;
  std::string since;
  const std::array<const char*, 2> kInitial{"initial_sync", "initial_sync_again"};
  for (const char* which : kInitial) {
    const std::string path = SyncPath(0, filter, "");
    Timed t = co_await TimedRequest(*conn, Method::kGet, path, {}, a.token);
    if (!rt.matrix().Check(t.response, "initial sync")) {
      report.Fail("initial sync failed");
      co_return;
    }
    bool ok = false;
    bj::value v = ParseFast(t.response.body, &ok);
    const bj::object* join = Obj(Obj(AsObj(v), "rooms"), "join");
    std::size_t found = 0, events = 0;
    for (const auto& id : rooms) {
      if (const bj::value* room = join ? join->if_contains(id) : nullptr) {
        ++found;
        if (const bj::array* e = Arr(Obj(AsObj(*room), "timeline"), "events")) events += e->size();
      }
    }
    since = Str(AsObj(v), "next_batch");
    res[which] = {{"ms", Ms(t.ns)},
                  {"bytes", t.response.body.size()},
                  {"rooms", found},
                  {"timeline_events", events}};
    report.lines.push_back(Fmt("%s: %.1f ms, %zu bytes, %zu/%zu rooms, %zu timeline events", which,
                               Ms(t.ns), t.response.body.size(), found, N, events));
    if (found != N) report.Fail(std::string(which) + ": rooms missing");
  }
  // Two hundred, so that the p99 is not simply the slowest (the first,
  // which may read what the server keeps for the device afterwards).
  Histogram inc;
  std::size_t with_news = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string path = SyncPath(0, filter, since);
    Timed t = co_await TimedRequest(*conn, Method::kGet, path, {}, a.token);
    if (!rt.matrix().Check(t.response, "incremental sync")) {
      report.Fail("incremental sync failed");
      co_return;
    }
    inc.Record(t.ns / 1000);
    bool ok = false;
    bj::value v = ParseFast(t.response.body, &ok);
    const bj::object* join = Obj(Obj(AsObj(v), "rooms"), "join");
    if (join && !join->empty()) ++with_news;
    if (auto next = Str(AsObj(v), "next_batch"); !next.empty()) since = next;
  }
  res["incremental_sync_ms"] = inc.ToJson();
  res["incremental_with_rooms"] = with_news;
  report.lines.push_back("incremental sync (nothing new, timeout=0): " + inc.Summary());
  if (with_news > 0) report.Fail("an incremental sync with nothing new returned rooms");
}

asio::awaitable<void> JoinBigRoom(Runtime& rt, Report& report) {
  const Options& o = rt.opt();
  const auto N = static_cast<std::size_t>(o.members);
  const auto conc = static_cast<std::size_t>(o.setup_concurrency);
  if (N < 1) {
    report.Fail("join-big-room needs members >= 1");
    co_return;
  }
  report.results["params"] = {{"members", N}};
  std::vector<Account> accounts = co_await rt.RegisterUsers(report, N + 1, "j");
  if (accounts.empty()) co_return;

  auto conn = rt.NewConn(0);
  const std::string create = R"({"preset":"public_chat","name":"vigie-bench big room"})";
  auto room = co_await rt.matrix().CreateRoom(*conn, accounts[0], create);
  if (!room) {
    report.Fail("room creation failed");
    co_return;
  }
  std::atomic<std::size_t> failed{0};
  rt.BeginPhase("join", N - 1);
  co_await rt.Parallel(N - 1, conc, [&](Conn& c, std::size_t i) -> asio::awaitable<void> {
    const bool ok = co_await rt.matrix().Join(c, accounts[1 + i], *room);
    if (!ok) failed.fetch_add(1);
  });
  rt.EndPhase(report);
  if (failed.load() > 0) {
    report.Fail("joins failed");
    co_return;
  }

  const Account& joiner = accounts[N];
  auto& res = report.results;
  const std::string join_path = "/_matrix/client/v3/join/" + UrlEncode(*room);
  Timed j = co_await TimedRequest(*conn, Method::kPost, join_path, "{}", joiner.token);
  if (!rt.matrix().Check(j.response, "join")) {
    report.Fail("the last join failed");
    co_return;
  }
  res["join_ms"] = Ms(j.ns);
  report.lines.push_back(Fmt("join a room of %zu members: %.1f ms", N, Ms(j.ns)));

  const std::string lazy =
      UrlEncode(R"({"room":{"state":{"lazy_load_members":true},"timeline":{"limit":10}}})");
  const std::string plain = o.sync_filter.empty() ? "" : UrlEncode(o.sync_filter);
  struct Variant {
    const char* name;
    const std::string& filter;
  };
  const std::array<Variant, 2> variants{Variant{"first_sync", plain},
                                        Variant{"first_sync_lazy", lazy}};
  for (const Variant& var : variants) {
    const std::string path = SyncPath(0, var.filter, "");
    Timed t = co_await TimedRequest(*conn, Method::kGet, path, {}, joiner.token);
    if (!rt.matrix().Check(t.response, "first sync")) {
      report.Fail("first sync failed");
      co_return;
    }
    bool ok = false;
    bj::value v = ParseFast(t.response.body, &ok);
    const bj::object* join = Obj(Obj(AsObj(v), "rooms"), "join");
    const bj::value* r = join ? join->if_contains(*room) : nullptr;
    const bj::array* state = r ? Arr(Obj(AsObj(*r), "state"), "events") : nullptr;
    const bj::object* summary = r ? Obj(AsObj(*r), "summary") : nullptr;
    std::int64_t joined = -1;
    if (const bj::value* jc = summary ? summary->if_contains("m.joined_member_count") : nullptr;
        jc && jc->is_int64()) {
      joined = jc->get_int64();
    }
    res[var.name] = {{"ms", Ms(t.ns)},
                     {"bytes", t.response.body.size()},
                     {"room_present", r != nullptr},
                     {"state_events", state ? state->size() : 0},
                     {"joined_member_count", joined}};
    report.lines.push_back(Fmt("%s: %.1f ms, %zu bytes, room %s, %zu state events", var.name,
                               Ms(t.ns), t.response.body.size(), r ? "present" : "MISSING",
                               state ? state->size() : std::size_t{0}));
    if (!r) report.Fail(std::string(var.name) + ": the room is missing");
    if (joined >= 0 && static_cast<std::size_t>(joined) != N + 1) {
      report.Fail(std::string(var.name) + ": m.joined_member_count " + std::to_string(joined) +
                  ", expected " + std::to_string(N + 1));
    }
  }
}

asio::awaitable<void> History(Runtime& rt, Report& report) {
  const Options& o = rt.opt();
  const auto H = static_cast<std::size_t>(o.events);
  const auto P = static_cast<std::size_t>(std::max(1, o.page_size));
  report.results["params"] = {{"events", H}, {"page_size", P}};
  std::vector<Account> accounts = co_await rt.RegisterUsers(report, 1, "h");
  if (accounts.empty()) co_return;
  const Account& a = accounts[0];
  auto conn = rt.NewConn(0);
  const std::string create = R"({"preset":"private_chat","name":"vigie-bench history"})";
  auto room = co_await rt.matrix().CreateRoom(*conn, a, create);
  if (!room) {
    report.Fail("room creation failed");
    co_return;
  }
  const std::vector<std::string> rooms{*room};
  // Few senders: one room serialises its writes anyway.
  const auto workers = std::min<std::size_t>(8, static_cast<std::size_t>(o.setup_concurrency));
  const std::size_t send_failed = co_await Fill(rt, report, a, rooms, H, workers, "send");
  if (send_failed > 0) {
    report.Fail("sends failed");
    co_return;
  }

  // The newest event comes from /sync; /messages pages back from its
  // prev_batch.
  const std::string filter = UrlEncode(R"({"room":{"timeline":{"limit":1}}})");
  const std::string sync_path = SyncPath(0, filter, "");
  Response s = co_await conn->Request(Method::kGet, sync_path, {}, a.token);
  if (!rt.matrix().Check(s, "sync")) {
    report.Fail("sync failed");
    co_return;
  }
  Bits seen;
  std::size_t unique = 0, duplicates = 0, other = 0, pages = 0;
  auto count = [&](const bj::array* events) {
    if (!events) return;
    for (const auto& e : *events) {
      Marker m;
      if (!ReadMarker(e, m)) {
        ++other;
      } else if (seen.TestAndSet(m.seq)) {
        ++duplicates;
      } else {
        ++unique;
      }
    }
  };
  std::string from;
  {
    bool ok = false;
    bj::value v = ParseFast(s.body, &ok);
    const bj::object* r = Obj(Obj(Obj(AsObj(v), "rooms"), "join"), *room);
    count(Arr(Obj(r, "timeline"), "events"));
    from = Str(Obj(r, "timeline"), "prev_batch");
  }
  if (from.empty()) {
    report.Fail("no prev_batch for the room in /sync");
    co_return;
  }

  Histogram page;
  rt.BeginPhase("paginate", 0);
  rt.SetProgress([&] { return "history: " + std::to_string(unique) + " events"; });
  const std::int64_t t0 = NowNs();
  const std::string base = RoomPath(*room, "/messages?dir=b&limit=" + std::to_string(P));
  const std::size_t max_pages = H / P + 20;
  while (pages < max_pages) {
    const std::string path = base + "&from=" + UrlEncode(from);
    const std::int64_t p0 = NowNs();
    Response r = co_await conn->Request(Method::kGet, path, {}, a.token);
    page.Record((NowNs() - p0) / 1000);
    if (pages == 0 && (r.status == 404 || r.status == 405 ||
                       r.body.find("M_UNRECOGNIZED") != std::string::npos)) {
      report.unsupported = true;
      report.lines.push_back("the server does not implement GET /rooms/{roomId}/messages");
      rt.EndPhase(report);
      co_return;
    }
    if (!rt.matrix().Check(r, "messages")) {
      report.Fail("/messages failed");
      break;
    }
    ++pages;
    bool ok = false;
    bj::value v = ParseFast(r.body, &ok);
    const bj::array* chunk = Arr(AsObj(v), "chunk");
    count(chunk);
    std::string end = Str(AsObj(v), "end");
    if (!chunk || chunk->empty() || end.empty()) break;
    from = std::move(end);
  }
  const double dt = static_cast<double>(NowNs() - t0) / 1e9;
  rt.EndPhase(report);
  auto& res = report.results;
  res["seconds"] = Round(dt, 0.001);
  res["pages"] = pages;
  res["bench_events"] = unique;
  res["other_events"] = other;
  res["duplicates"] = duplicates;
  res["events_per_s"] = Round((unique + other) / std::max(dt, 1e-9));
  res["page_latency_ms"] = page.ToJson();
  report.lines.push_back(
      Fmt("paginated %zu events (%zu sent + %zu others) in %zu pages: %.3f s, "
          "%.0f events/s",
          unique + other, unique, other, pages, dt, (unique + other) / std::max(dt, 1e-9)));
  report.lines.push_back("page latency: " + page.Summary());
  if (unique != H) {
    report.Fail("saw " + std::to_string(unique) + " of the " + std::to_string(H) + " events sent");
  }
  if (duplicates > 0) report.Fail(std::to_string(duplicates) + " events seen twice");
}

}  // namespace vigie::bench
