// TLS contexts built from the tls-* options (Redis's names and rules): one for the
// connections this server accepts, one for those it opens (a replica's link to its
// primary). OpenSSL through Boost.Asio's ssl::context.
//
// Reload: CONFIG SET of a tls-* parameter builds a complete new pair from the options as
// they would become; only when every file loaded is the pair swapped in. Connections
// accepted from then on use the new contexts; open ones keep the context they started
// with (each stream holds a reference). A bad file leaves the old pair in place.
//
// Thread-safety: TlsContextStore is safe for concurrent use (a mutex around one pointer
// swap; read once per accepted or opened connection). The contexts themselves are
// immutable once built, and OpenSSL allows SSL objects of one SSL_CTX on many threads.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/core/asio.h"
#include "server/core/config.h"

#include <boost/asio/ssl.hpp>

namespace darter::server::net {

struct TlsContexts {
  // Null until TLS is configured (tls-port or tls-replication set).
  std::shared_ptr<asio::ssl::context> server;  // presents tls-cert-file
  std::shared_ptr<asio::ssl::context> client;  // presents tls-client-cert-file, else tls-cert-file
};

// True when the options need TLS contexts at all (as Redis: tls-port or tls-replication).
inline bool TlsWanted(const ServerOptions& o) { return o.tls_port != 0 || o.tls_replication; }

// Builds both contexts. On failure returns the reason in Redis's log wording, e.g.
// "Failed to load certificate: /path/cert.pem: error:...:No such file or directory".
std::optional<std::string> BuildTlsContexts(const ServerOptions& o, TlsContexts* out);

// The SSL_VERIFY_* mode for an accepted client under tls-auth-clients (yes | no |
// optional); nullopt for any other value.
std::optional<int> ClientAuthVerifyMode(const std::string& tls_auth_clients);

class TlsContextStore {
 public:
  // Builds from `o` and, when that works, makes the result current. The previous pair
  // stays current on failure; the reason is returned (and logged by the caller).
  std::optional<std::string> Configure(const ServerOptions& o);
  TlsContexts Current() const;

 private:
  mutable std::mutex mu_;
  TlsContexts current_;
};

}  // namespace darter::server::net
