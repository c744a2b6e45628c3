// Read receipts and read markers (client-server API "Receipts", "Read
// Markers"). A receipt moves one (user, type, thread) marker forward and
// marks the notifications up to its event as read; a receipt for an event
// at or before the current one is accepted and ignored. `m.fully_read` is
// room account data, not a receipt.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/stream.h"

namespace vigie::service {

struct ReadMarkers {
  std::optional<std::string> fully_read;
  std::optional<std::string> read;
  std::optional<std::string> read_private;
};

class ReceiptService {
 public:
  ReceiptService(ServiceContext& ctx, Stream& stream) : ctx_(ctx), stream_(stream) {}

  // POST /rooms/{roomId}/receipt/{receiptType}/{eventId}. `type` is
  // m.read, m.read.private or m.fully_read; `thread_id` is "main" or a
  // thread root (absent: unthreaded), and the event must be in that
  // thread. Throws M_FORBIDDEN unless joined, M_NOT_FOUND for an event not
  // in the room, M_INVALID_PARAM for a bad type or thread.
  boost::asio::awaitable<void> Send(const Requester& who, const std::string& room_id,
                                    const std::string& type, const std::string& event_id,
                                    const std::optional<std::string>& thread_id);

  // POST /rooms/{roomId}/read_markers: all of them in one write.
  boost::asio::awaitable<void> SetReadMarkers(const Requester& who, const std::string& room_id,
                                              const ReadMarkers& markers);

 private:
  ServiceContext& ctx_;
  Stream& stream_;
};

}  // namespace vigie::service
