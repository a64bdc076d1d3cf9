#include "store/store_config.h"

namespace darter::store {

StoreConfig& GetStoreConfig() {
  static StoreConfig config;
  return config;
}

}  // namespace darter::store
