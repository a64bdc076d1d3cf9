// libFuzzer target for lib/rdb's reader.
//
// Each input is decoded twice: whole, and fed in pieces whose sizes come
// from the input itself. Both must end in the same status and, on success,
// the same decoded content (the reader's "any split gives the same result"
// guarantee); a difference aborts. The checksum is not verified, so the
// fuzzer can reach the structure behind it; module values are skipped so
// their walker is exercised too. The tail of the input is also tried as a
// DUMP payload body.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../unit/rdb/model_sink.h"
#include "rdb/dump_payload.h"
#include "rdb/reader.h"

using darter::rdb::ModulePolicy;
using darter::rdb::Reader;
using darter::rdb::ReaderOptions;
using darter::rdb::Status;
using darter::rdb::testing::ModelSink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ReaderOptions opt;
  opt.verify_checksum = false;
  opt.module_policy = ModulePolicy::kSkip;
  opt.chunk_elements = 7;

  // The sink accepts everything (no duplicate-key refusal): with a sink
  // that refuses, whether its refusal or a later decoding error is seen
  // first may depend on when a chunk is handed over (see reader.h).
  ModelSink whole;
  whole.fail_on_duplicate = false;
  Status a = darter::rdb::ReadRdb(in, &whole, opt);

  ModelSink pieces;
  pieces.fail_on_duplicate = false;
  Reader r(&pieces, opt);
  Status b;
  size_t pos = 0, step = 1;
  while (pos < in.size() && b.ok()) {
    size_t n = std::min(step, in.size() - pos);
    b = r.Feed(in.substr(pos, n));
    pos += n;
    step = (static_cast<unsigned char>(in[pos - 1]) % 13) + 1;
  }
  if (b.ok()) b = r.Finish();
  // Same status always; same content when decoding succeeded (after an
  // error, how much of the failing collection was already handed over
  // depends on the split, and the sink discards it anyway).
  if (a.ToString() != b.ToString()) std::abort();
  if (a.ok() && whole.Render(true) != pieces.Render(true)) std::abort();

  // The same bytes as a DUMP payload body (any version up to 12).
  if (size > 2) {
    ModelSink dump;
    Reader v(&dump, opt);
    v.StartValueOnly(data[0] % 13);
    Status s = v.Feed(in.substr(1));
    if (s.ok()) (void)v.Finish();
  }
  return 0;
}
