// libFuzzer target: multi-flow replication frames (lib/server/repl/flow_frame.h) as a primary
// would send them, in arbitrary pieces. Decoding must refuse or accept, never crash,
// hang or allocate beyond the frame limits.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/repl/flow_frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks how the stream is cut into reads.
  const size_t step = 1 + data[0] % 64;
  std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  darter::server::FlowDecoder decoder;
  darter::server::FlowFrame frame;
  std::string buf, error;
  size_t fed = 0;
  while (true) {
    size_t used = 0;
    auto r = decoder.Next(buf, &used, &frame, &error);
    if (r == darter::server::FlowDecoder::Result::kError) break;
    if (r == darter::server::FlowDecoder::Result::kFrame) {
      buf.erase(0, used);
      continue;
    }
    if (fed == wire.size()) break;
    size_t n = std::min(step, wire.size() - fed);
    buf.append(wire.substr(fed, n));
    fed += n;
  }
  return 0;
}
