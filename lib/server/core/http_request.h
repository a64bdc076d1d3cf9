// Recognising a Prometheus scrape on the RESP port: the exact rule that tells an HTTP
// request from a RESP client on the first bytes of a connection (docs/metrics.md).
//
// The rule: a connection is HTTP when its first line is `GET <target> HTTP/1.0` or
// `GET <target> HTTP/1.1`, with <target> starting with '/' and holding no blank. As a RESP
// inline command that line is GET with two arguments, which is always an arity error,
// so no valid RESP request is taken for HTTP. `GET /key` without the version stays a
// RESP GET. The request head (request line and headers, up to the empty line) must fit
// in kMaxHttpHead bytes; a request line longer than that is left to the RESP parser.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace darter::server {

// A request head larger than this is refused (431) and the connection closed.
inline constexpr size_t kMaxHttpHead = 8 * 1024;

enum class HttpDetect {
  kNotHttp,   // hand the bytes to the RESP parser
  kNeedMore,  // could still become an HTTP request: read more before deciding
  kHttp,      // a complete request head; `head_len` bytes long
  kTooLarge,  // an HTTP request line, but the head does not end within kMaxHttpHead
};

struct HttpRequestHead {
  HttpDetect kind = HttpDetect::kNotHttp;
  size_t head_len = 0;
  std::string path;  // the target without its query string ("/metrics")
};

// Classifies the first bytes a connection received.
HttpRequestHead DetectHttpRequest(std::string_view bytes);

// A whole HTTP/1.1 response that closes the connection.
std::string HttpResponse(int status, std::string_view content_type, std::string_view body);
// The 431 answer to a request head over kMaxHttpHead.
std::string HttpHeadTooLargeResponse();

}  // namespace darter::server
