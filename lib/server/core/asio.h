// The one place Darter includes Boost.Asio. Boost 1.74's coroutine headers use
// std::exchange without including <utility>, so it must come first.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace darter::server {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
}  // namespace darter::server
