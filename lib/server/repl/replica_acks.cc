#include "server/repl/replica_acks.h"

#include <string>
#include <string_view>
#include <vector>

#include "resp/request_parser.h"
#include "server/core/connection.h"
#include "store/string_util.h"

namespace darter::server {

awaitable<void> ReadReplicaAcks(std::shared_ptr<Connection> conn, std::function<bool()> stopped,
                                std::function<void(int64_t)> on_ack, std::function<void()> on_end) {
  resp::RequestParser parser;
  std::vector<std::string_view> args;
  std::vector<char> buf(16 * 1024);
  std::string in;
  while (!stopped()) {
    boost::system::error_code ec;
    size_t n = co_await conn->stream().async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    in.append(buf.data(), n);
    size_t pos = 0;
    bool bad = false;
    while (pos < in.size()) {
      resp::ParseResult r = parser.Parse(std::string_view(in).substr(pos), &args);
      if (r.status == resp::ParseStatus::kNeedMore) break;
      if (r.status != resp::ParseStatus::kCommand) {
        bad = true;
        break;
      }
      pos += r.consumed;
      if (args.size() >= 3 && store::EqualsIgnoreCase(args[0], "replconf") && store::EqualsIgnoreCase(args[1], "ack")) {
        if (auto off = store::ParseInt64(args[2])) on_ack(*off);
      }
    }
    if (bad) break;
    in.erase(0, pos);
  }
  on_end();
}

}  // namespace darter::server
