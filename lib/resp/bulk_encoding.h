// RESP bulk strings appended to a buffer: for messages built outside a ReplyBuilder
// (journal entries, pub/sub and invalidation pushes fanned out to many clients).
#pragma once

#include <string>
#include <string_view>

namespace darter::resp {

// Appends "$<len>\r\n<bytes>\r\n".
inline void AppendBulk(std::string& out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out.append(s);
  out += "\r\n";
}

}  // namespace darter::resp
