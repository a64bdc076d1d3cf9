// SLOWLOG GET/LEN/RESET/HELP (Redis 7.0's slowlog.c) and the log itself: the commands
// whose duration reached slowlog-log-slower-than µs, newest first, at most
// slowlog-max-len of them (docs/introspection.md).
//
// An entry is Redis's: id, unix time (s), duration (µs), the arguments (at most 32, the
// last replaced by "... (N more arguments)"; each cut at 128 bytes with "... (N more
// bytes)"), the client's address and name. Secrets are redacted as Redis 7.0 redacts them
// ("(redacted)"): AUTH's arguments, HELLO's AUTH pair, ACL SETUSER's, MIGRATE's AUTH /
// AUTH2 values, CONFIG SET's value of a sensitive parameter. EXEC is not logged (its
// commands are, one by one, as Redis's skip_slowlog flag on EXEC has it).
//
// Thread-safety: one mutex guards the log; a command takes it only when it is slow
// enough to be logged.
#pragma once

#include <cstdint>
#include <string_view>

#include "store/command_table.h"

namespace darter::server {

void RegisterSlowlogFamily(store::CommandTable& table);

// Logs the command if the settings ask for it.
void SlowlogOffer(const store::CommandSpec& spec, store::ArgList args, int64_t duration_us,
                  std::string_view client_addr, std::string_view client_name);

}  // namespace darter::server
