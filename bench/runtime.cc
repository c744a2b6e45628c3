#include "bench/runtime.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <cstdio>
#include <thread>

namespace vigie::bench {
namespace {

thread_local std::size_t t_shard = 0;

double Round(double v, double unit = 0.001) { return std::round(v / unit) * unit; }

}  // namespace

Latch::Latch(asio::any_io_executor ex, std::size_t n)
    : timer_(std::move(ex)), count_(n), done_(n == 0) {}

void Latch::CountDown() {
  if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    asio::post(timer_.get_executor(), [this] {
      done_ = true;
      timer_.cancel();
    });
  }
}

asio::awaitable<void> Latch::Wait() {
  while (!done_) {
    timer_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

Runtime::Runtime(Options opt, std::shared_ptr<Target> target)
    : opt_(std::move(opt)), target_(std::move(target)) {
  const int n = std::max(1, opt_.threads);
  for (int i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    hists_.push_back(std::make_unique<std::array<Histogram, kHistCount>>());
  }
}

Runtime::~Runtime() = default;

asio::any_io_executor Runtime::executor(std::size_t i) const {
  return contexts_[i % contexts_.size()]->get_executor();
}

std::unique_ptr<Conn> Runtime::NewConn(std::size_t i) const {
  return std::make_unique<Conn>(executor(i), target_);
}

Histogram& Runtime::Hist(int id) { return (*hists_[t_shard])[id]; }

Histogram Runtime::Merged(int id) const {
  Histogram h;
  for (const auto& s : hists_) h.Merge((*s)[id]);
  return h;
}

std::optional<ProcSample> Runtime::Server() const {
  if (opt_.server_pid <= 0) return std::nullopt;
  return ReadProc(opt_.server_pid);
}

void Runtime::Run(std::function<asio::awaitable<void>()> main) {
  start_s_ = NowSeconds();
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<Guard> guards;
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    guards.emplace_back(contexts_[i]->get_executor());
    threads.emplace_back([this, i] {
      t_shard = i;
      contexts_[i]->run();
    });
  }
  t_shard = 0;
  asio::co_spawn(
      *contexts_[0],
      [this, &main]() -> asio::awaitable<void> {
        try {
          co_await main();
        } catch (const std::exception& e) {
          errors_.Record("exception", e.what());
        }
        finished_ = true;
        // Every scenario waits for its own tasks; stopping the loops only
        // drops what a failed scenario left behind.
        for (auto& c : contexts_) c->stop();
      },
      asio::detached);
  asio::co_spawn(*contexts_[0], ProgressLoop(), asio::detached);
  contexts_[0]->run();
  guards.clear();
  for (auto& t : threads) t.join();
}

asio::awaitable<void> Runtime::ProgressLoop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::optional<ProcSample> last = Server();
  while (!finished_) {
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (finished_) break;
    std::string line;
    if (progress_) {
      line = progress_();
    } else if (!phase_.empty()) {
      const auto done = phase_done_.load(std::memory_order_relaxed);
      const double dt = NowSeconds() - phase_start_s_;
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s %llu/%llu (%.0f/s)", phase_.c_str(),
                    static_cast<unsigned long long>(done),
                    static_cast<unsigned long long>(phase_total_), dt > 0 ? done / dt : 0.0);
      line = buf;
    } else {
      line = "between phases";
    }
    char tail[160] = "";
    if (auto now = Server(); now && last) {
      std::snprintf(tail, sizeof tail, " | server rss %.0f MiB cpu %.0f%%", now->rss_kib / 1024.0,
                    CpuPercent(*last, *now));
      last = now;
    }
    std::fprintf(stderr, "[%6.1fs] %s%s | errors %llu\n", NowSeconds() - start_s_, line.c_str(),
                 tail, static_cast<unsigned long long>(errors_.total()));
  }
}

void Runtime::BeginPhase(std::string name, std::uint64_t total) {
  phase_ = std::move(name);
  phase_total_ = total;
  phase_done_.store(0, std::memory_order_relaxed);
  phase_start_s_ = NowSeconds();
  progress_ = nullptr;
}

double Runtime::EndPhase(Report& report) {
  const double dt = NowSeconds() - phase_start_s_;
  const auto done = phase_done_.load(std::memory_order_relaxed);
  if (phase_total_ > 0) {
    report.setup[phase_] = {
        {"items", done}, {"seconds", Round(dt)}, {"per_s", Round(dt > 0 ? done / dt : 0.0, 0.1)}};
    std::fprintf(stderr, "%s: %llu in %.2f s (%.0f/s)\n", phase_.c_str(),
                 static_cast<unsigned long long>(done), dt, dt > 0 ? done / dt : 0.0);
  }
  phase_.clear();
  progress_ = nullptr;
  return dt;
}

asio::awaitable<void> Runtime::Parallel(
    std::size_t n, std::size_t workers,
    std::function<asio::awaitable<void>(Conn&, std::size_t)> fn) {
  if (n == 0) co_return;
  workers = std::clamp<std::size_t>(workers, 1, n);
  Latch done(co_await asio::this_coro::executor, workers);
  std::atomic<std::size_t> next{0};
  for (std::size_t w = 0; w < workers; ++w) {
    asio::co_spawn(
        executor(w),
        [this, w, n, &next, &fn]() -> asio::awaitable<void> {
          auto conn = NewConn(w);
          for (;;) {
            const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= n) break;
            try {
              co_await fn(*conn, i);
            } catch (const std::exception& e) {
              errors_.Record("exception", e.what());
            }
            StepDone();
          }
        },
        done.OnDone(errors_));
  }
  co_await done.Wait();
}

asio::awaitable<std::vector<Account>> Runtime::RegisterUsers(Report& report, std::size_t n,
                                                             const std::string& tag) {
  BeginPhase("register " + tag, n);
  std::vector<Account> accounts(n);
  std::atomic<std::size_t> failed{0};
  const Registration reg{opt_.registration_token, opt_.shared_secret, opt_.password};
  co_await Parallel(n, static_cast<std::size_t>(opt_.setup_concurrency),
                    [&](Conn& c, std::size_t i) -> asio::awaitable<void> {
                      std::string localpart = opt_.user_prefix + tag + std::to_string(i);
                      auto a = co_await matrix_.Register(c, reg, localpart);
                      if (a) {
                        accounts[i] = std::move(*a);
                      } else {
                        failed.fetch_add(1, std::memory_order_relaxed);
                      }
                    });
  EndPhase(report);
  if (failed.load() > 0) {
    report.Fail(std::to_string(failed.load()) + " of " + std::to_string(n) +
                " registrations failed");
    accounts.clear();
  }
  co_return accounts;
}

}  // namespace vigie::bench
