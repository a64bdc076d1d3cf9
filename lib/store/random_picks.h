// Replies to random picks with repetition (SRANDMEMBER, HRANDFIELD, ZRANDMEMBER with a
// negative count). Such a reply has exactly -count elements whatever the data holds,
// so it is the one reply whose size the client chooses: "SRANDMEMBER s -1000000000000"
// on a one-member set asks for terabytes. Redis builds it regardless; Darter builds it
// only while it stays within proto-max-bulk-len bytes (the bound Redis already puts on
// one value) and otherwise answers kRepeatedPicksTooLarge, sending none of it.
// Shard-thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "resp/reply_builder.h"
#include "store/store_config.h"

namespace darter::store {

inline constexpr std::string_view kRepeatedPicksTooLarge =
    "ERR count is out of range: the reply would exceed proto-max-bulk-len";

// Writes the array header (`header_len` elements) then calls `emit_one()` `count` times;
// each call appends one picked element. When the encoded reply passes
// proto-max-bulk-len the partial reply is dropped (its buffer released) and an error is
// written in its place, so both the time and the memory spent are bounded by that
// setting, not by `count`.
template <typename EmitOne>
void ReplyRepeatedPicks(resp::ReplyBuilder& rb, uint64_t count, uint64_t header_len, EmitOne&& emit_one) {
  const uint64_t budget = ProtoMaxBulkLen();
  // Every element takes at least 6 bytes ("$0\r\n\r\n"): refuse at once what cannot fit.
  if (count > budget / 6) {
    rb.Error(kRepeatedPicksTooLarge);
    return;
  }
  std::string* out = rb.out();
  const size_t mark = out->size();
  rb.ArrayHeader(header_len);
  for (uint64_t i = 0; i < count; ++i) {
    emit_one();
    if (out->size() - mark > budget) {
      out->resize(mark);
      out->shrink_to_fit();
      rb.Error(kRepeatedPicksTooLarge);
      return;
    }
  }
}

}  // namespace darter::store
