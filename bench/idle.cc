// The idle scenario: C /sync long-polls held open at once, and what they
// cost the server in memory and CPU.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <memory>
#include <vector>

#include "bench/runtime.h"
#include "bench/scenario_util.h"

namespace vigie::bench {
namespace {

struct IdleShared {
  Runtime& rt;
  const std::vector<Account>& accounts;
  std::string filter;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> initial_failed{0}, polling{0}, returns{0};
};

asio::awaitable<void> Poller(IdleShared& sh, Conn& conn, const Account& a, Latch& ready) {
  const Options& o = sh.rt.opt();
  std::string path = SyncPath(0, sh.filter, "");
  Response r = co_await conn.Request(Method::kGet, path, {}, a.token);
  bool ok = false;
  std::string since;
  if (sh.rt.matrix().Check(r, "initial sync")) {
    bj::value v = ParseFast(r.body, &ok);
    since = Str(AsObj(v), "next_batch");
  }
  sh.rt.StepDone();
  if (!ok || since.empty()) {
    sh.initial_failed.fetch_add(1);
    ready.CountDown();
    co_return;
  }
  bool first = true;
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  const auto timeout = std::chrono::milliseconds(o.sync_timeout_ms) + std::chrono::seconds(30);
  while (!sh.stop.load(std::memory_order_acquire)) {
    path = SyncPath(o.sync_timeout_ms, sh.filter, since);
    sh.polling.fetch_add(1);
    if (first) {
      // The request is written before this coroutine next yields to the
      // loop, so the long-poll is on its way when the waiter runs.
      first = false;
      ready.CountDown();
    }
    r = co_await conn.Request(Method::kGet, path, {}, a.token, timeout);
    sh.polling.fetch_sub(1);
    if (sh.stop.load(std::memory_order_acquire)) break;
    if (!sh.rt.matrix().Check(r, "sync")) {
      backoff.expires_after(std::chrono::milliseconds(200));
      boost::system::error_code ec;
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    sh.returns.fetch_add(1);
    bj::value v = ParseFast(r.body, &ok);
    std::string next = Str(AsObj(v), "next_batch");
    if (!next.empty()) since = std::move(next);
  }
}

asio::awaitable<void> Sleep(double seconds) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds)));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

double Round(double v, double unit = 0.1) { return std::round(v / unit) * unit; }

}  // namespace

asio::awaitable<void> Idle(Runtime& rt, Report& report) {
  const Options& o = rt.opt();
  const auto C = static_cast<std::size_t>(o.connections);
  const auto NU = static_cast<std::size_t>(o.idle_users > 0 ? o.idle_users : o.connections);
  if (C < 1) {
    report.Fail("idle needs connections >= 1");
    co_return;
  }
  report.results["params"] = {{"connections", C},
                              {"users", NU},
                              {"duration_s", o.duration_s},
                              {"sync_timeout_ms", o.sync_timeout_ms}};
  std::vector<Account> accounts = co_await rt.RegisterUsers(report, NU, "i");
  if (accounts.empty()) co_return;

  IdleShared sh{rt, accounts, {}};
  sh.filter =
      UrlEncode(o.sync_filter.empty() ? R"({"room":{"timeline":{"limit":10}}})" : o.sync_filter);
  co_await Sleep(0.5);
  auto base = rt.Server();

  auto ex = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<Conn>> conns;
  for (std::size_t i = 0; i < C; ++i) conns.push_back(rt.NewConn(i));
  Latch done(ex, C);
  rt.BeginPhase("open long-polls", C);
  // In waves: tens of thousands of connects at once would overflow the
  // server's listen backlog (somaxconn) and measure the kernel's SYN
  // retransmission instead of the held long-polls.
  constexpr std::size_t kWave = 2000;
  std::vector<std::unique_ptr<Latch>> waves;
  for (std::size_t first = 0; first < C; first += kWave) {
    const std::size_t last = std::min(C, first + kWave);
    Latch& ready = *waves.emplace_back(std::make_unique<Latch>(ex, last - first));
    for (std::size_t i = first; i < last; ++i) {
      asio::co_spawn(
          conns[i]->executor(),
          [&sh, &ready, c = conns[i].get(), a = &accounts[i % NU]]() -> asio::awaitable<void> {
            co_await Poller(sh, *c, *a, ready);
          },
          done.OnDone(rt.errors()));
    }
    co_await ready.Wait();
  }
  const double open_s = rt.EndPhase(report);
  // The long-polls are written; let the server work through them until a
  // one-second CPU reading falls under 2% of a core (at most 30 s).
  double settle_s = 0;
  for (auto prev = rt.Server(); settle_s < 30;) {
    co_await Sleep(1.0);
    settle_s += 1;
    auto now = rt.Server();
    if (!prev || !now || CpuPercent(*prev, *now) < 2.0) break;
    prev = now;
  }

  rt.BeginPhase("hold", 0);
  rt.SetProgress([&sh] { return "idle: " + std::to_string(sh.polling.load()) + " long-polls"; });
  auto held0 = rt.Server();
  std::int64_t rss_max = held0 ? held0->rss_kib : 0;
  const std::uint64_t returns0 = sh.returns.load();
  const double cpu0 = SelfCpuSeconds();
  const double hold_start = NowSeconds();
  boost::json::array cpu_per_s;
  for (auto prev = held0; NowSeconds() - hold_start < o.duration_s;) {
    co_await Sleep(std::min(1.0, o.duration_s - (NowSeconds() - hold_start)));
    auto s = rt.Server();
    if (s) rss_max = std::max(rss_max, s->rss_kib);
    if (s && prev) cpu_per_s.emplace_back(Round(CpuPercent(*prev, *s), 0.1));
    prev = s;
  }
  const double hold_s = NowSeconds() - hold_start;
  auto held1 = rt.Server();
  if (held1) rss_max = std::max(rss_max, held1->rss_kib);
  const std::uint64_t polling = sh.polling.load();
  const double bench_cpu = 100.0 * (SelfCpuSeconds() - cpu0) / std::max(hold_s, 1e-9);
  rt.EndPhase(report);

  sh.stop.store(true, std::memory_order_release);
  for (auto& c : conns) {
    Conn* p = c.get();
    asio::post(p->executor(), [p] { p->Close(); });
  }
  co_await done.Wait();
  co_await Sleep(1.0);
  auto after = rt.Server();

  auto& res = report.results;
  res["open_seconds"] = Round(open_s, 0.001);
  res["long_polls_held"] = polling;
  res["returns_during_hold"] = sh.returns.load() - returns0;
  res["hold_seconds"] = Round(hold_s, 0.01);
  res["bench_cpu_percent"] = Round(bench_cpu);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu long-polls open in %.2f s (%zu users); %llu held", C, open_s,
                NU, static_cast<unsigned long long>(polling));
  report.lines.push_back(buf);
  if (base && held0 && held1) {
    const double per_conn = static_cast<double>(rss_max - base->rss_kib) / C;
    res["server"] = {{"rss_before_kib", base->rss_kib},
                     {"rss_held_kib", held1->rss_kib},
                     {"rss_held_max_kib", rss_max},
                     {"rss_per_long_poll_kib", Round(per_conn, 0.01)},
                     {"rss_after_close_kib", after ? after->rss_kib : 0},
                     {"cpu_percent_during_hold", Round(CpuPercent(*held0, *held1), 0.01)},
                     {"cpu_percent_per_s", cpu_per_s},
                     {"settle_seconds", settle_s},
                     {"threads", held1->threads},
                     {"fds_held", held1->fds}};
    std::snprintf(buf, sizeof buf,
                  "server RSS %.1f MiB before, %.1f MiB held (max %.1f): %.1f KiB per long-poll; "
                  "%.1f MiB after closing",
                  base->rss_kib / 1024.0, held1->rss_kib / 1024.0, rss_max / 1024.0, per_conn,
                  after ? after->rss_kib / 1024.0 : 0.0);
    report.lines.push_back(buf);
    std::snprintf(buf, sizeof buf,
                  "server CPU while holding: %.2f%% of one core over %.1f s; %lld threads, "
                  "%lld fds; bench CPU %.1f%%",
                  CpuPercent(*held0, *held1), hold_s, static_cast<long long>(held1->threads),
                  static_cast<long long>(held1->fds), bench_cpu);
    report.lines.push_back(buf);
  } else {
    report.lines.push_back("(no --server-pid: server memory and CPU not measured)");
  }
  if (sh.initial_failed.load() > 0) {
    report.Fail(std::to_string(sh.initial_failed.load()) + " initial syncs failed");
  }
  if (polling != C) {
    report.Fail("only " + std::to_string(polling) + " of " + std::to_string(C) +
                " long-polls were held at the end");
  }
}

}  // namespace vigie::bench
