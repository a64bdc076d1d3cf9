#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "store/command_table.h"

// The families' tests look commands up in the process's table, as the server does.
int main(int argc, char** argv) {
  darter::store::RegisterStoreFamilies(darter::store::CommandTable::Global());
  return doctest::Context(argc, argv).run();
}
