#include "server/core/http_request.h"

#include <algorithm>

namespace darter::server {

namespace {

constexpr std::string_view kMethod = "GET /";

// Whether `line` (up to its '\n') is `GET /<target> HTTP/1.x`; sets *path to the target
// without its query string.
bool IsHttpRequestLine(std::string_view line, std::string* path) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < kMethod.size() + 9 || line.substr(0, 4) != "GET ") return false;
  std::string_view version = line.substr(line.size() - 9);
  if (version != " HTTP/1.0" && version != " HTTP/1.1") return false;
  std::string_view target = line.substr(4, line.size() - 4 - 9);
  if (target.empty() || target[0] != '/') return false;
  for (char c : target)
    if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20) return false;
  *path = std::string(target.substr(0, target.find('?')));
  return true;
}

const char* StatusText(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

}  // namespace

HttpRequestHead DetectHttpRequest(std::string_view bytes) {
  HttpRequestHead h;
  // Fewer bytes than "GET /": undecided while they are its beginning.
  const size_t common = std::min(bytes.size(), kMethod.size());
  if (bytes.substr(0, common) != kMethod.substr(0, common)) return h;
  if (bytes.size() < kMethod.size()) {
    h.kind = HttpDetect::kNeedMore;
    return h;
  }
  size_t eol = bytes.find('\n');
  if (eol == std::string_view::npos) {
    // A request line longer than a whole head cannot be served: leave it to RESP.
    h.kind = bytes.size() < kMaxHttpHead ? HttpDetect::kNeedMore : HttpDetect::kNotHttp;
    return h;
  }
  if (eol >= kMaxHttpHead || !IsHttpRequestLine(bytes.substr(0, eol), &h.path)) {
    h.path.clear();
    return h;  // kNotHttp
  }
  // The head ends at the first empty line ("\r\n" or "\n" alone).
  size_t pos = eol + 1;
  while (true) {
    size_t next = bytes.find('\n', pos);
    if (next == std::string_view::npos || next >= kMaxHttpHead) {
      h.kind = bytes.size() >= kMaxHttpHead ? HttpDetect::kTooLarge : HttpDetect::kNeedMore;
      return h;
    }
    std::string_view line = bytes.substr(pos, next - pos);
    pos = next + 1;
    if (line.empty() || line == "\r") break;
  }
  h.kind = HttpDetect::kHttp;
  h.head_len = pos;
  return h;
}

std::string HttpResponse(int status, std::string_view content_type, std::string_view body) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) + "\r\n";
  r += "Content-Type: ";
  r += content_type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n";
  r += "\r\n";
  r += body;
  return r;
}

std::string HttpHeadTooLargeResponse() {
  return HttpResponse(431, "text/plain; charset=utf-8", "request head too large\n");
}

}  // namespace darter::server
