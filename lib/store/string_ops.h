// Helpers shared by the string family and other families that read or write string
// values (OBJECT ENCODING, DUMP, ...). Shard-thread only.
#pragma once

#include <string_view>

#include "store/db_table.h"

namespace darter::store {

enum StringSlotFlags : uint8_t {
  // kSlotRawString (db_table.h) = 1: modified in place, encoding "raw".
  kSlotNoIntEncoding = 2,  // stored from a double (INCRBYFLOAT): "embstr", never "int"
};

// The encoding Redis would report for a string value with these slot flags.
std::string_view StringEncodingName(std::string_view value, uint8_t flags);

}  // namespace darter::store
