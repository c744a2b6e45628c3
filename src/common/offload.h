// Moving blocking work (database, Argon2) off the I/O threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace vigie {

// Runs `f` on `pool` and resumes the calling coroutine on its own executor
// with f's result; an exception thrown by f is rethrown in the caller.
// `f` may capture the caller's locals by reference: the caller stays
// suspended until f has returned.
template <typename F>
auto Offload(boost::asio::thread_pool& pool, F&& f)
    -> boost::asio::awaitable<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  co_return co_await boost::asio::co_spawn(
      pool, [&f]() -> boost::asio::awaitable<R> { co_return f(); }, boost::asio::use_awaitable);
}

}  // namespace vigie
