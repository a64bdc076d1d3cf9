#include "server/core/observer_hooks.h"

namespace darter::server {

ObserverHooks& GetObserverHooks() {
  static ObserverHooks hooks;
  return hooks;
}

}  // namespace darter::server
