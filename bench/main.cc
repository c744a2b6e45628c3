// vigie-bench: a Matrix load generator speaking only the Client-Server API,
// so that it can be pointed at any homeserver. See bench/README.md.
//
// Exit status: 0 when the scenario ran and its correctness checks passed,
// 1 when a check failed or requests failed, 2 on bad usage, 3 when the
// server lacks an endpoint the scenario needs.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "bench/runtime.h"

namespace {

using namespace vigie::bench;
using ScenarioFn = boost::asio::awaitable<void> (*)(Runtime&, Report&);

const std::map<std::string, ScenarioFn>& Scenarios() {
  static const std::map<std::string, ScenarioFn> kAll{{"fanout", &Fanout},
                                                      {"idle", &Idle},
                                                      {"login", &LoginBurst},
                                                      {"initial-sync", &InitialSync},
                                                      {"join-big-room", &JoinBigRoom},
                                                      {"history", &History}};
  return kAll;
}

void RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

std::string RunNonce() {
  // Base 36 of the time in deciseconds, plus the pid: distinct across runs
  // against the same server, and valid in a Matrix localpart.
  auto v = static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count() /
                                           100);
  v = v * 100 + static_cast<unsigned long long>(getpid() % 100);
  std::string s;
  do {
    s.insert(s.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
    v /= 36;
  } while (v);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"vigie-bench: a Matrix Client-Server API load generator"};
  app.add_option("--scenario", o.scenario,
                 "fanout | idle | login | initial-sync | join-big-room | history")
      ->required()
      ->check(
          CLI::IsMember({"fanout", "idle", "login", "initial-sync", "join-big-room", "history"}));
  app.add_option("--base-url", o.base_url, "homeserver base URL")->capture_default_str();
  app.add_option("--registration-token", o.registration_token,
                 "for the m.login.registration_token UIA stage (else m.login.dummy)");
  app.add_option("--shared-secret", o.shared_secret,
                 "register through Synapse's shared-secret admin API instead");
  app.add_option("--json", o.json_path, "write the machine-readable result here ('-': stdout)");
  app.add_option("--server-pid", o.server_pid, "read the server's RSS and CPU from /proc/PID");
  app.add_option("--duration", o.duration_s, "seconds of load (fanout, idle)")
      ->capture_default_str();
  app.add_option("--drain", o.drain_s, "fanout: seconds to wait for deliveries after sending")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "event-loop threads")->capture_default_str();
  app.add_option("--setup-concurrency", o.setup_concurrency,
                 "requests in flight while registering, creating rooms, joining, filling")
      ->capture_default_str();
  app.add_option("--bind-addresses", o.bind_addresses,
                 "source addresses for client sockets, round-robin (e.g. 127.0.0.2,127.0.0.3)")
      ->delimiter(',');
  app.add_option("--user-prefix", o.user_prefix, "localpart prefix (default: bench<nonce>_)");
  app.add_option("--password", o.password, "password of the accounts created");
  app.add_flag("--insecure", o.insecure_tls, "do not verify the server's TLS certificate");
  app.add_option("--users,-U", o.users, "fanout: users")->capture_default_str();
  app.add_option("--rooms,-R", o.rooms, "fanout: rooms; initial-sync: rooms")
      ->capture_default_str();
  app.add_option("--members,-K", o.members,
                 "fanout: members per room; join-big-room: members before the join")
      ->capture_default_str();
  app.add_option("--senders,-S", o.senders, "fanout: senders")->capture_default_str();
  app.add_option("--rate", o.rate, "fanout: target events/s over all senders (0: max)")
      ->capture_default_str();
  app.add_option("--sync-timeout", o.sync_timeout_ms, "long-poll timeout, ms")
      ->capture_default_str();
  app.add_option("--timeline-limit", o.timeline_limit, "fanout: /sync timeline limit")
      ->capture_default_str();
  app.add_option("--sync-filter", o.sync_filter, "JSON filter for /sync, replacing the default");
  app.add_option("--connections,-C", o.connections, "idle: long-polls held")->capture_default_str();
  app.add_option("--idle-users", o.idle_users, "idle: accounts (default: one per connection)");
  app.add_option("--logins,-N", o.logins, "login: logins")->capture_default_str();
  app.add_option("--concurrency,-M", o.login_concurrency, "login: logins in flight")
      ->capture_default_str();
  app.add_option("--events,-E", o.events,
                 "initial-sync: events per room; history: events to paginate")
      ->capture_default_str();
  app.add_option("--page-size", o.page_size, "history: /messages limit")->capture_default_str();
  app.add_flag("--unique-rooms", o.unique_rooms,
               "initial-sync: put a nonce in each room's creation_content (for servers whose "
               "room ids collide when one user creates rooms in the same millisecond)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (o.user_prefix.empty()) o.user_prefix = "bench" + RunNonce() + "_";
  RaiseFileLimit();

  std::shared_ptr<Target> target;
  try {
    target = Target::Make(o.base_url, o.bind_addresses, !o.insecure_tls);
  } catch (const std::exception& e) {
    std::cerr << "vigie-bench: " << e.what() << "\n";
    return 2;
  }

  const std::string load_before = LoadAverage();
  const double wall0 = NowSeconds();
  const double cpu0 = SelfCpuSeconds();
  Report report;
  Runtime rt(o, target);
  std::fprintf(stderr, "vigie-bench %s against %s (users %s*)\n", o.scenario.c_str(),
               o.base_url.c_str(), o.user_prefix.c_str());
  ScenarioFn fn = Scenarios().at(o.scenario);
  rt.Run([&]() -> boost::asio::awaitable<void> { co_await fn(rt, report); });
  const double wall = NowSeconds() - wall0;

  const auto errors = rt.errors().total();
  if (errors > 0) report.Fail(std::to_string(errors) + " request errors");
  const bool ok = report.failures.empty();

  boost::json::object out{{"scenario", o.scenario},
                          {"base_url", o.base_url},
                          {"ok", ok && !report.unsupported},
                          {"unsupported", report.unsupported},
                          {"results", report.results},
                          {"setup", report.setup},
                          {"errors", rt.errors().ToJson()},
                          {"wall_seconds", wall},
                          {"bench_cpu_seconds", SelfCpuSeconds() - cpu0},
                          {"threads", o.threads},
                          {"load_average_before", load_before},
                          {"load_average_after", LoadAverage()}};
  boost::json::array failures;
  for (const auto& f : report.failures) failures.emplace_back(f);
  out["failures"] = std::move(failures);

  std::printf("\n== vigie-bench %s: %s\n", o.scenario.c_str(),
              report.unsupported ? "UNSUPPORTED"
              : ok               ? "OK"
                                 : "FAILED");
  for (const auto& l : report.lines) std::printf("  %s\n", l.c_str());
  for (const auto& [phase, v] : report.setup) {
    const auto& p = v.as_object();
    std::printf("  setup %s: %.0f in %.3f s (%.0f/s)\n", std::string(phase).c_str(),
                p.at("items").to_number<double>(), p.at("seconds").to_number<double>(),
                p.at("per_s").to_number<double>());
  }
  if (errors > 0) {
    std::printf("  errors:\n");
    for (const auto& l : rt.errors().Lines()) std::printf("  %s\n", l.c_str());
  }
  for (const auto& f : report.failures) std::printf("  FAILED: %s\n", f.c_str());
  std::printf("  wall %.1f s, bench CPU %.1f s, load %s -> %s\n", wall, SelfCpuSeconds() - cpu0,
              load_before.c_str(), LoadAverage().c_str());
  std::fflush(stdout);

  if (!o.json_path.empty()) {
    const std::string text = boost::json::serialize(out);
    if (o.json_path == "-") {
      std::printf("%s\n", text.c_str());
    } else {
      std::ofstream f(o.json_path);
      f << text << "\n";
      if (!f) {
        std::cerr << "vigie-bench: cannot write " << o.json_path << "\n";
        return 1;
      }
    }
  }
  if (!ok) return 1;
  return report.unsupported ? 3 : 0;
}
