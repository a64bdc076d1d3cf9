// Redis 7's protection of dangerous surfaces: `enable-debug-command` and
// `enable-protected-configs` (no / yes / local), and `protected-mode`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/core/asio.h"

namespace darter::store {
struct CommandSpec;
}

namespace darter::server {

class Connection;

// no: refused to every client; yes: allowed; local: allowed to loopback clients only.
enum class ProtectedAction { kNo, kYes, kLocal };

std::optional<ProtectedAction> ParseProtectedAction(std::string_view v);
const char* ProtectedActionName(ProtectedAction a);
bool AllowProtectedAction(ProtectedAction setting, bool local_client);

// A loopback peer (127.0.0.0/8, ::1, or an IPv4-mapped loopback), as Redis's connIsLocal.
bool IsLoopbackPeer(const asio::ip::tcp::socket& socket);

// The error for a protected command (DEBUG) that enable-debug-command refuses to this
// client, or "" when it may run. Checked right after arity, before AUTH, as Redis does.
std::string ProtectedCommandError(const store::CommandSpec& spec, Connection& conn);

// protected-mode (Redis 7.0's rule): with no password set for the default user, a client
// that is not on a loopback address is refused (sent kProtectedModeDenied, then closed),
// whatever the server is bound to.
bool ProtectedModeRefuses(bool protected_mode, bool password_set, bool local_client);
extern const std::string_view kProtectedModeDenied;

}  // namespace darter::server
