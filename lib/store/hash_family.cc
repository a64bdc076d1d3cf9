// Hash commands: being written (see the issue tracker); registers nothing yet.
#include "store/command_table.h"

namespace darter::store {

void RegisterHashFamily(CommandTable&) {}

}  // namespace darter::store
