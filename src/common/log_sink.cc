#include "common/log_sink.h"

#include <unistd.h>

#include <cerrno>

#include "common/thread_name.h"

namespace vigie {

BatchingSink::BatchingSink(int fd, std::size_t max_pending, std::chrono::milliseconds gather)
    : fd_(fd), max_pending_(max_pending), gather_(gather) {
  writer_ = std::thread([this] {
    NameThisThread("vigie-log");
    Run();
  });
}

BatchingSink::~BatchingSink() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

std::uint64_t BatchingSink::Dropped() {
  std::lock_guard lock(mutex_);
  return dropped_;
}

std::uint64_t BatchingSink::Writes() {
  std::lock_guard lock(mutex_);
  return writes_;
}

void BatchingSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  if (pending_.size() + line.size() > max_pending_) {
    ++dropped_;
    ++dropped_unsaid_;
    return;
  }
  pending_.append(line.data(), line.size());
  const bool urgent = msg.level >= spdlog::level::warn;
  urgent_ |= urgent;
  // Only a waiting writer is woken: one wake per batch, not per record.
  if (idle_ || urgent) wake_.notify_one();
}

void BatchingSink::flush_() {
  urgent_ = true;
  wake_.notify_one();
}

void BatchingSink::Run() {
  std::string writing;
  std::unique_lock lock(mutex_);
  for (;;) {
    idle_ = true;
    wake_.wait(lock, [&] { return stop_ || urgent_ || !pending_.empty(); });
    idle_ = false;
    // Gather what the next moments bring into the same write.
    wake_.wait_for(lock, gather_, [&] { return stop_ || urgent_; });
    urgent_ = false;
    if (dropped_unsaid_ > 0) {
      writing = "[log] " + std::to_string(dropped_unsaid_) +
                " records dropped: the log could not be written fast enough\n" + pending_;
      dropped_unsaid_ = 0;
      pending_.clear();
    } else {
      writing.swap(pending_);  // (pending_ takes the cleared buffer's capacity)
    }
    if (!writing.empty()) ++writes_;
    const bool last = stop_;
    lock.unlock();
    WriteOut(writing);
    writing.clear();
    lock.lock();
    if (last && pending_.empty()) return;
  }
}

void BatchingSink::WriteOut(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to write: the records are lost, not the server
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace vigie
