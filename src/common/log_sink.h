// The server's log sink: writing a record costs the logging thread a
// format and an append, never a wake-up.
//
// A request log line per request went through spdlog's async queue, which
// signals its worker for every record: two context switches per request,
// about 7% of the server's CPU in a send-and-sync benchmark. BatchingSink
// formats on the calling thread into a shared buffer; one writer thread
// wakes when the buffer stops being empty, gathers for `gather`, and writes
// everything pending with one write(2). Warnings and errors are written at
// once. The buffer is bounded: past `max_pending` bytes (the descriptor
// blocked, a disk full), records are dropped and counted, never waited
// for, and a line reporting how many precedes the next write.
// Destruction writes what is pending.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace vigie {

class BatchingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit BatchingSink(int fd, std::size_t max_pending = 4 << 20,
                        std::chrono::milliseconds gather = std::chrono::milliseconds(20));
  ~BatchingSink() override;
  BatchingSink(const BatchingSink&) = delete;
  BatchingSink& operator=(const BatchingSink&) = delete;

  std::uint64_t Dropped();  // records dropped so far
  std::uint64_t Writes();   // write batches so far

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;  // asks for a write now; does not wait for it

 private:
  void Run();
  void WriteOut(const std::string& data);

  const int fd_;
  const std::size_t max_pending_;
  const std::chrono::milliseconds gather_;
  // Guarded by base_sink's mutex_.
  std::string pending_;
  std::uint64_t dropped_ = 0;         // in total
  std::uint64_t dropped_unsaid_ = 0;  // not yet reported in the log
  std::uint64_t writes_ = 0;
  bool idle_ = false;  // the writer waits for a first record
  bool urgent_ = false;
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread writer_;
};

}  // namespace vigie
