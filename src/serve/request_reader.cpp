// The request reader: head parsing with header checks, and incremental chunked decoding.
#include "tinybert/serve/request_reader.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace tinybert::serve {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A chunk-size line without its CRLF: hex digits, then nothing or ";extensions". -1 if not.
int64_t chunk_size(std::string_view line) {
  size_t i = 0;
  int64_t n = 0;
  for (; i < line.size() && hex_digit(line[i]) >= 0; ++i) {
    if (i >= 15) return -1;  // past 2^60: no body is that large
    n = n * 16 + hex_digit(line[i]);
  }
  if (i == 0) return -1;
  const std::string_view rest = trim(line.substr(i));
  return rest.empty() || rest.front() == ';' ? n : -1;
}

// Grows `s` to hold `extra` more bytes, doubling as std::string does but not past `cap` (or
// past what is needed, when that is more).
void reserve_within(std::string& s, size_t extra, size_t cap) {
  const size_t need = s.size() + extra;
  if (need > s.capacity())
    s.reserve(std::min(std::max(need, 2 * s.capacity()), std::max(need, cap)));
}

}  // namespace

bool RequestReader::take_continue() {
  const bool c = continue_;
  continue_ = false;
  return c;
}

RequestReader::State RequestReader::feed(std::string& buf) {
  if (!head_end_) {
    const State s = parse_head(buf);
    if (s != State::Ready) return s;
  }
  if (!chunked_) {
    request_end_ = head_end_ + length_;
    if (buf.size() >= request_end_) return State::Ready;
    reserve_within(buf, request_end_ - buf.size(), request_end_);
    return State::Wait;
  }
  return decode_chunks(buf);
}

// Finds the end of the head and checks its headers; Ready means "the head is whole".
RequestReader::State RequestReader::parse_head(std::string& buf) {
  size_t skip = 0;  // empty lines before a request line are allowed (RFC 9112 2.2)
  while (skip + 1 < buf.size() && buf[skip] == '\r' && buf[skip + 1] == '\n') skip += 2;
  if (skip) buf.erase(0, skip), scanned_ = 0;
  const size_t at = buf.find("\r\n\r\n", scanned_ > 3 ? scanned_ - 3 : 0);
  if (at == std::string::npos) {
    scanned_ = buf.size();
    return buf.size() > limits_.max_head ? State::HeadTooLarge : State::Wait;
  }
  if (at + 4 > limits_.max_head) return State::HeadTooLarge;
  const std::string_view head(buf.data(), at + 4);
  bool has_length = false, has_encoding = false;
  size_t expect_begin = 0, expect_end = 0, encoding_begin = 0, encoding_end = 0;
  const size_t first = head.find("\r\n");
  if (first > limits_.max_line) return State::HeadTooLarge;
  for (size_t line = first + 2; line < head.size() - 2;) {
    const size_t end = head.find("\r\n", line);
    const std::string_view h = head.substr(line, end - line);
    if (h.size() > limits_.max_line) return State::HeadTooLarge;
    // "name: value", the name a token: no whitespace before the colon (RFC 9112 5.1), no
    // folded continuation lines (5.2), no control characters (a bare CR or LF would let
    // httplib see lines this reader did not)
    const size_t colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        h.substr(0, colon).find_first_of(" \t") != std::string_view::npos ||
        std::any_of(h.begin(), h.end(), [](char c) {
          return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
        }))
      return State::Bad;
    const std::string_view name = h.substr(0, colon), value = trim(h.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      uint64_t n = 0;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return State::Bad;
      for (char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');
      if (has_length && n != length_) return State::Bad;
      has_length = true;
      length_ = n;
    } else if (iequals(name, "Transfer-Encoding")) {  // httplib reads "chunked", nothing else
      if (has_encoding || !iequals(value, "chunked")) return State::Bad;
      has_encoding = true;
      encoding_begin = line, encoding_end = end + 2;
    } else if (iequals(name, "Expect")) {
      if (expect_end || !iequals(value, "100-continue")) return State::Bad;  // the only one
      expect_begin = line, expect_end = end + 2;
    }
    line = end + 2;
  }
  if (has_length && has_encoding) return State::Bad;  // the classic request-smuggling pair
  if (has_length && length_ > limits_.max_body) return State::BodyTooLarge;
  // Remove the lines that only the reader acts on: it answers 100-continue and decodes chunks.
  for (auto [b, e] :
       {std::pair{std::max(expect_begin, encoding_begin), std::max(expect_end, encoding_end)},
        std::pair{std::min(expect_begin, encoding_begin), std::min(expect_end, encoding_end)}})
    if (e > b) buf.erase(b, e - b);
  head_end_ = at + 4 - (expect_end - expect_begin) - (encoding_end - encoding_begin);
  continue_ = expect_end > expect_begin;
  chunked_ = has_encoding;
  raw_ = head_end_;
  return State::Ready;
}

// Decodes what arrived of a chunked body into payload_; once the last chunk and the trailers are
// in, the request becomes head + "Content-Length: N" + payload.
RequestReader::State RequestReader::decode_chunks(std::string& buf) {
  for (;;) {
    if (chunk_ == Chunk::Data) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, buf.size() - raw_));
      reserve_within(payload_, n, limits_.max_body);
      payload_.append(buf, raw_, n);
      raw_ += n;
      left_ -= n;
      if (left_ > 0) break;
      chunk_ = Chunk::DataEnd;
    } else if (chunk_ == Chunk::DataEnd) {
      if (buf.size() - raw_ < 2) break;
      if (buf.compare(raw_, 2, "\r\n") != 0) return State::Bad;
      raw_ += 2;
      chunk_ = Chunk::Size;
    } else {  // a size line, or a trailer line
      const size_t end = buf.find("\r\n", raw_);
      if (end == std::string::npos) {
        if (buf.size() - raw_ > limits_.max_line) return State::HeadTooLarge;
        break;
      }
      const std::string_view line(buf.data() + raw_, end - raw_);
      if (line.size() > limits_.max_line) return State::Bad;
      raw_ = end + 2;
      if (chunk_ == Chunk::Trailer) {
        trailer_ += line.size() + 2;
        if (trailer_ > limits_.max_head) return State::HeadTooLarge;
        if (!line.empty()) continue;
        // The whole body: the head gets its length, the payload follows, then what came after.
        const std::string length = "Content-Length: " + std::to_string(payload_.size()) + "\r\n";
        std::string rest = buf.substr(raw_);
        buf.resize(head_end_ - 2);
        buf += length + "\r\n" + payload_ + rest;
        head_end_ += length.size();
        request_end_ = head_end_ + payload_.size();
        chunked_ = false;
        length_ = payload_.size();
        std::string().swap(payload_);
        return State::Ready;
      }
      const int64_t size = chunk_size(line);
      if (size < 0) return State::Bad;
      if (payload_.size() + static_cast<uint64_t>(size) > limits_.max_body)
        return State::BodyTooLarge;
      left_ = static_cast<uint64_t>(size);
      chunk_ = size == 0 ? Chunk::Trailer : Chunk::Data;
    }
  }
  // Decoded bytes leave the buffer as they go, so a long body does not pile up twice.
  if (raw_ - head_end_ > (64 << 10)) {
    buf.erase(head_end_, raw_ - head_end_);
    raw_ = head_end_;
  }
  return State::Wait;
}

}  // namespace tinybert::serve
