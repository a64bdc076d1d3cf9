// What a configuration directive does: the start-up half of redis-server's config
// loading. ConfigFile (config_file.h) turns a file and the command line into
// directives; ApplyConfigDirectives applies them, in order, to a ConfigRegistry.
//
// The rules, as redis-server 7.0 and the product's promise that no setting is
// silently ignored:
//  * a parameter Darter has is set with CONFIG SET's validation (start-up-only ones
//    too), its error stopping the start with the file and line;
//  * `save` lines accumulate (the first replaces the default schedule; `save ""` clears
//    it), `client-output-buffer-limit` lines set one class each, `user` lines add ACL
//    users, `replicaof`/`slaveof <host> <port>` starts as a replica;
//  * a directive that some Redis has and Darter does not is listed once as a warning
//    naming its line, unless ignoring it would weaken what the user asked for (renamed
//    or disabled commands, modules, Sentinel, cluster mode, a unix socket,
//    min-replicas-to-write): those stop the start with a reason;
//  * a directive no Redis has stops the start, as in Redis.
//
// Thread-safety: plain functions, called before the server starts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/core/config.h"
#include "server/core/config_file.h"

namespace darter::server {

// Redis's schedule when a configuration gives no `save` (redis.conf's default).
inline constexpr const char* kDefaultSaveSchedule = "3600 1 300 100 60 10000";

// The options darter-server starts from before its directives apply: ServerOptions'
// defaults (what an embedded server gets: no save schedule) with redis-server's default
// save schedule, so a restart keeps the data as it would with Redis.
ServerOptions DefaultStartupOptions();

// Applies `directives` to `registry`; the users and replicaof they give, which are not
// parameters, go to *options (whose other fields the caller takes from the registry's
// Snapshot). Warnings are appended to *warnings. Returns the fatal error, formatted as
// Redis's "FATAL CONFIG FILE ERROR" block.
std::optional<std::string> ApplyConfigDirectives(ConfigRegistry& registry,
                                                 const std::vector<ConfigDirective>& directives,
                                                 ServerOptions* options, std::vector<std::string>* warnings);

}  // namespace darter::server
