#include "server/core/protected_actions.h"

#include "server/core/connection.h"
#include "server/core/server.h"
#include "store/command_table.h"
#include "store/string_util.h"

namespace darter::server {

std::optional<ProtectedAction> ParseProtectedAction(std::string_view v) {
  if (store::EqualsIgnoreCase(v, "no")) return ProtectedAction::kNo;
  if (store::EqualsIgnoreCase(v, "yes")) return ProtectedAction::kYes;
  if (store::EqualsIgnoreCase(v, "local")) return ProtectedAction::kLocal;
  return std::nullopt;
}

const char* ProtectedActionName(ProtectedAction a) {
  switch (a) {
    case ProtectedAction::kNo: return "no";
    case ProtectedAction::kYes: return "yes";
    case ProtectedAction::kLocal: return "local";
  }
  return "no";
}

bool AllowProtectedAction(ProtectedAction setting, bool local_client) {
  return setting == ProtectedAction::kYes || (setting == ProtectedAction::kLocal && local_client);
}

bool IsLoopbackPeer(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  asio::ip::address a = socket.remote_endpoint(ec).address();
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

std::string ProtectedCommandError(const store::CommandSpec& spec, Connection& conn) {
  if (!(spec.flags & store::kCmdProtected)) return {};
  Server& server = conn.server();
  ProtectedAction setting =
      ParseProtectedAction(server.config().Snapshot().enable_debug_command).value_or(ProtectedAction::kNo);
  if (AllowProtectedAction(setting, conn.local_client)) return {};
  return "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it "
         "from a local connection, otherwise you need to set this option in the configuration file, and then "
         "restart the server.";
}

bool ProtectedModeRefuses(bool protected_mode, bool password_set, bool local_client) {
  return protected_mode && !password_set && !local_client;
}

const std::string_view kProtectedModeDenied =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the "
    "default user. In this mode connections are only accepted from the loopback interface. If you want to connect "
    "from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected "
    "mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis "
    "from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet "
    "if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the "
    "protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and "
    "then restarting the server. 3) If you started the server manually just for testing, restart it with the "
    "'--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only "
    "need to do one of the above things in order for the server to start accepting connections from the "
    "outside.\r\n";

}  // namespace darter::server
