// The machinery shared by vigie-bench scenarios: options, the event loops,
// per-thread measurement shards, a completion latch, bounded-concurrency
// loops with connection reuse, phase timing and the per-second progress line.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/client.h"
#include "bench/matrix.h"
#include "bench/stats.h"

namespace vigie::bench {

struct Options {
  std::string base_url = "http://127.0.0.1:8008";
  std::string scenario;
  std::string json_path;
  std::string registration_token;
  std::string shared_secret;
  std::string user_prefix;  // default: "bench" + a per-run nonce + "_"
  std::string password = "vigie-bench-password";
  std::vector<std::string> bind_addresses;
  int server_pid = 0;
  int threads = 1;
  int setup_concurrency = 32;
  double duration_s = 10;
  double drain_s = 10;
  bool insecure_tls = false;

  // fanout
  int users = 100;
  int rooms = 10;
  int members = 10;
  int senders = 10;
  double rate = 0;  // events/s over all senders; 0: as fast as possible
  int sync_timeout_ms = 30000;
  int timeline_limit = 50;
  // idle
  int connections = 100;
  int idle_users = 0;  // 0: one per connection
  // login
  int logins = 100;
  int login_concurrency = 8;
  // initial-sync (rooms, events), join-big-room (members), history (events)
  int events = 100;
  int page_size = 100;
  std::string sync_filter;    // override of the scenario's /sync filter
  bool unique_rooms = false;  // initial-sync: a nonce in each m.room.create
};

// A scenario's outcome: figures (JSON and human lines), setup timings, and
// correctness failures (any makes the run fail).
struct Report {
  boost::json::object results;
  boost::json::object setup;
  std::vector<std::string> lines;
  std::vector<std::string> failures;
  bool unsupported = false;  // the server lacks an endpoint the scenario needs

  void Fail(std::string why) { failures.push_back(std::move(why)); }
};

// Histograms kept per thread; scenarios give them meanings.
enum HistId : int { kHistA = 0, kHistB = 1, kHistC = 2, kHistCount = 3 };

// Counts down from n; Wait() returns once it reaches zero. CountDown() may be
// called from any thread; Wait() must run on the executor given at
// construction, and the Latch must outlive Wait().
class Latch {
 public:
  Latch(asio::any_io_executor ex, std::size_t n);
  void CountDown();
  asio::awaitable<void> Wait();
  // A co_spawn completion handler that records an escaped exception in
  // `errors`, then counts down.
  auto OnDone(Errors& errors) {
    return [this, &errors](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          errors.Record("exception", x.what());
        } catch (...) {
          errors.Record("exception", "unknown");
        }
      }
      CountDown();
    };
  }

 private:
  asio::steady_timer timer_;
  std::atomic<std::size_t> count_;
  bool done_ = false;  // touched only on timer_'s executor
};

class Runtime {
 public:
  Runtime(Options opt, std::shared_ptr<Target> target);
  ~Runtime();

  const Options& opt() const { return opt_; }
  Matrix& matrix() { return matrix_; }
  Errors& errors() { return errors_; }
  std::size_t threads() const { return contexts_.size(); }
  asio::any_io_executor executor(std::size_t i) const;
  // A new connection whose I/O runs on context i % threads().
  std::unique_ptr<Conn> NewConn(std::size_t i) const;
  // This thread's histogram `id`; call from a context thread only.
  Histogram& Hist(int id);
  // All threads' histograms `id` merged; call once the work is done.
  Histogram Merged(int id) const;

  // Runs `main` on context 0 with every context on its own thread (context 0
  // on the calling one), printing a progress line every second, until `main`
  // returns.
  void Run(std::function<asio::awaitable<void>()> main);

  // Phases: a named step with a known number of items, shown in the progress
  // line and recorded in `report.setup` with its time and rate. Call on
  // context 0.
  void BeginPhase(std::string name, std::uint64_t total);
  void StepDone() { phase_done_.fetch_add(1, std::memory_order_relaxed); }
  double EndPhase(Report& report);
  // Replaces the progress line's text while a phase without items runs.
  void SetProgress(std::function<std::string()> line) { progress_ = std::move(line); }

  // Runs fn(conn, i) for every i in [0, n) with at most `workers` at a time,
  // spread over the contexts. Each worker keeps one keep-alive connection
  // for all its items. Counts each item as a step of the current phase.
  asio::awaitable<void> Parallel(std::size_t n, std::size_t workers,
                                 std::function<asio::awaitable<void>(Conn&, std::size_t)> fn);

  // Registers n accounts "<prefix><tag><i>" with the setup concurrency, in a
  // phase named "register <tag>". Fails the report and returns an empty
  // vector unless all succeed.
  asio::awaitable<std::vector<Account>> RegisterUsers(Report& report, std::size_t n,
                                                      const std::string& tag);

  // Server /proc readings when --server-pid was given.
  std::optional<ProcSample> Server() const;

  std::atomic<bool> stop{false};

 private:
  asio::awaitable<void> ProgressLoop();

  Options opt_;
  std::shared_ptr<Target> target_;
  Errors errors_;
  Matrix matrix_{errors_};
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::unique_ptr<std::array<Histogram, kHistCount>>> hists_;
  double start_s_ = 0;
  bool finished_ = false;

  std::string phase_;
  std::uint64_t phase_total_ = 0;
  std::atomic<std::uint64_t> phase_done_{0};
  double phase_start_s_ = 0;
  std::function<std::string()> progress_;
};

// Scenarios. Each runs on context 0 and fills `report`.
asio::awaitable<void> Fanout(Runtime& rt, Report& report);
asio::awaitable<void> Idle(Runtime& rt, Report& report);
asio::awaitable<void> LoginBurst(Runtime& rt, Report& report);
asio::awaitable<void> InitialSync(Runtime& rt, Report& report);
asio::awaitable<void> JoinBigRoom(Runtime& rt, Report& report);
asio::awaitable<void> History(Runtime& rt, Report& report);

}  // namespace vigie::bench
