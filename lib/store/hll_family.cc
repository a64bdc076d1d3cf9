// Hll commands: being written (see the issue tracker); registers nothing yet.
#include "store/command_table.h"

namespace darter::store {

void RegisterHllFamily(CommandTable&) {}

}  // namespace darter::store
