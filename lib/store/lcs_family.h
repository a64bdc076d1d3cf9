// LCS (lcs_family.cc), registered by RegisterStoreFamilies after the string family.
#pragma once

#include "store/command_table.h"

namespace darter::store {

void RegisterLcsFamily(CommandTable& table);

}  // namespace darter::store
