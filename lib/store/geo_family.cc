// Geo commands: being written (see the issue tracker); registers nothing yet.
#include "store/command_table.h"

namespace darter::store {

void RegisterGeoFamily(CommandTable&) {}

}  // namespace darter::store
