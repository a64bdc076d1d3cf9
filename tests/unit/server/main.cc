#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "server/command_families.h"

// Tests look commands up in the process's table, as the server does.
int main(int argc, char** argv) {
  darter::server::RegisterAllFamilies(darter::store::CommandTable::Global());
  return doctest::Context(argc, argv).run();
}
