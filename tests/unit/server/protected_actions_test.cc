#include <doctest/doctest.h>

#include "server/core/protected_actions.h"

using namespace darter::server;

TEST_CASE("enable-debug-command / enable-protected-configs: no, yes, local") {
  CHECK(ParseProtectedAction("no") == ProtectedAction::kNo);
  CHECK(ParseProtectedAction("YES") == ProtectedAction::kYes);
  CHECK(ParseProtectedAction("local") == ProtectedAction::kLocal);
  CHECK_FALSE(ParseProtectedAction("maybe").has_value());
  CHECK_FALSE(AllowProtectedAction(ProtectedAction::kNo, true));
  CHECK(AllowProtectedAction(ProtectedAction::kYes, false));
  CHECK(AllowProtectedAction(ProtectedAction::kLocal, true));
  CHECK_FALSE(AllowProtectedAction(ProtectedAction::kLocal, false));
}

TEST_CASE("protected-mode refuses only remote clients of a server without a password") {
  CHECK(ProtectedModeRefuses(true, false, false));
  CHECK_FALSE(ProtectedModeRefuses(true, false, true));   // loopback
  CHECK_FALSE(ProtectedModeRefuses(true, true, false));   // a password is set
  CHECK_FALSE(ProtectedModeRefuses(false, false, false));  // protected-mode no
}
