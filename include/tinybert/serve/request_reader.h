// Reading one HTTP/1.1 request off a connection as its bytes arrive, before anything else sees
// it: the head (request line and headers, within size limits, header names checked), then the
// body its head announces. A chunked body is decoded as it comes (the framing dropped, extensions
// and trailers skipped) and the head rewritten with its Content-Length, so that the request a
// worker gets is whole and plain. What does not parse is refused here, not half-read.
#pragma once

#include <cstdint>
#include <string>

namespace tinybert::serve {

struct RequestLimits {
  size_t max_head = 16 << 10;  // request line + headers
  size_t max_line = 8 << 10;   // one header line (cpp-httplib's own limit)
  size_t max_body = 1 << 20;   // decoded body
};

class RequestReader {
 public:
  enum class State {
    Wait,          // more bytes needed
    Ready,         // buf[0, request_end()) is the whole request, in plain Content-Length form
    HeadTooLarge,  // 431
    BodyTooLarge,  // 413 (announced or decoded)
    Bad,           // 400: malformed framing
  };

  explicit RequestReader(const RequestLimits& limits) : limits_(limits) {}

  // Examines the connection's buffer, which holds the bytes received and not yet consumed, the
  // current request's first; may rewrite it (a decoded chunked body, a removed Expect header).
  State feed(std::string& buf);
  // True once, when the head asked for "100 Continue" (the header is removed from the head).
  bool take_continue();
  size_t request_end() const { return request_end_; }
  // For the next request on the connection.
  void reset() { *this = RequestReader(limits_); }

 private:
  State parse_head(std::string& buf);
  State decode_chunks(std::string& buf);

  enum class Chunk { Size, Data, DataEnd, Trailer };
  RequestLimits limits_;
  size_t scanned_ = 0;      // bytes of buf searched for the end of the head
  size_t head_end_ = 0;     // 0 until the head is whole
  size_t request_end_ = 0;  // when Ready
  bool chunked_ = false, continue_ = false;
  uint64_t length_ = 0;  // Content-Length
  Chunk chunk_ = Chunk::Size;
  uint64_t left_ = 0;    // bytes of the current chunk still to come
  size_t raw_ = 0;       // where the undecoded chunked bytes start in buf
  size_t trailer_ = 0;   // trailer bytes seen
  std::string payload_;  // decoded chunked body
};

}  // namespace tinybert::serve
