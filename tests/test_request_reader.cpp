// The HTTP request reader of the server's gate: heads, lengths and chunked bodies as they
// arrive byte by byte, what it refuses, and a fuzzer holding it to a few invariants (ASan too).
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "tinybert/serve/request_reader.h"

using tinybert::serve::RequestLimits;
using tinybert::serve::RequestReader;
using State = RequestReader::State;

namespace {

const RequestLimits kLimits{.max_head = 1024, .max_line = 256, .max_body = 100};

// Feeds `bytes` one at a time, as a slow client sends them; the state after the last one.
State trickle(RequestReader& r, std::string& buf, const std::string& bytes) {
  State s = State::Wait;
  for (char ch : bytes) {
    buf.push_back(ch);
    s = r.feed(buf);
    if (s != State::Wait) break;
  }
  return s;
}

// Where the header `name` (lower case) starts in a head, or npos.
size_t header_at(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower.find("\r\n" + name + ":");
}

// The value of the Content-Length header of a head, -1 without one.
int64_t content_length(const std::string& head) {
  const size_t at = header_at(head, "content-length");
  return at == std::string::npos ? -1 : std::stoll(head.substr(at + 17));
}

State whole(const std::string& bytes, std::string* out = nullptr) {
  RequestReader r(kLimits);
  std::string buf = bytes;
  const State s = r.feed(buf);
  if (out && s == State::Ready) *out = buf.substr(0, r.request_end());
  return s;
}

}  // namespace

TEST(RequestReader, LengthAndPlainRequests) {
  RequestReader r(kLimits);
  std::string buf;
  const std::string req = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  EXPECT_EQ(trickle(r, buf, req + "GET / HTTP/1.1\r\n"), State::Ready);
  EXPECT_EQ(buf.substr(0, r.request_end()), req);
  std::string next =
      "\r\n\r\nGET /health HTTP/1.1\r\n\r\n";  // empty lines before a request are fine
  r.reset();
  buf = next;
  EXPECT_EQ(r.feed(buf), State::Ready);
  EXPECT_EQ(buf.substr(0, r.request_end()), "GET /health HTTP/1.1\r\n\r\n");
}

TEST(RequestReader, ChunkedBodiesAreDecodedAndTheHeadRewritten) {
  const std::string req =
      "POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (bool slowly : {false, true}) {
    RequestReader r(kLimits);
    std::string buf;
    const State s = slowly ? trickle(r, buf, req + "NEXT") : (buf = req + "NEXT", r.feed(buf));
    ASSERT_EQ(s, State::Ready);
    EXPECT_EQ(buf.substr(0, r.request_end()),
              "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    if (!slowly) {
      EXPECT_EQ(buf.substr(r.request_end()), "NEXT");
    }
  }
}

TEST(RequestReader, ExpectContinueIsAnsweredByTheReader) {
  RequestReader r(kLimits);
  std::string buf = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  EXPECT_EQ(r.feed(buf), State::Wait);
  EXPECT_TRUE(r.take_continue());
  EXPECT_FALSE(r.take_continue());
  buf += "ok";
  EXPECT_EQ(r.feed(buf), State::Ready);
  EXPECT_EQ(buf.substr(0, r.request_end()), "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
}

TEST(RequestReader, RefusesWhatDoesNotParse) {
  const std::string post = "POST / HTTP/1.1\r\n";
  EXPECT_EQ(whole(post + "Content-Length: 101\r\n\r\n"), State::BodyTooLarge);
  EXPECT_EQ(whole(post + "Transfer-Encoding: chunked\r\n\r\n65\r\n"), State::BodyTooLarge);
  EXPECT_EQ(whole(post + "Transfer-Encoding: chunked\r\n\r\n40\r\n" + std::string(64, 'a') +
                  "\r\n40\r\n"),
            State::BodyTooLarge);  // 128 decoded bytes announced against a limit of 100
  for (const std::string bad :
       {"Content-Length: 5\r\nContent-Length: 6\r\n",  // conflicting lengths
        "Content-Length: -5\r\n", "Content-Length: 0x10\r\n", "Content-Length: 5 5\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",  // the smuggling pair
        "Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: identity\r\n",
        "Content-Length : 5\r\n",       // whitespace before the colon
        "X: a\nContent-Length: 5\r\n",  // a bare LF: httplib would see another line
        "Expect: 100-continue\r\nExpect: 100-continue\r\n", "Expect: something\r\n",
        " folded: line\r\n", "no colon here\r\n", ": empty name\r\n"})
    EXPECT_EQ(whole(post + bad + "\r\n"), State::Bad) << bad;
  for (const std::string bad_chunks : {"zz\r\n", "-5\r\nhello\r\n", "5\r\nhello!!0\r\n\r\n",
                                       "1000000000000000000\r\n", "5 x\r\nhello\r\n"})
    EXPECT_EQ(whole(post + "Transfer-Encoding: chunked\r\n\r\n" + bad_chunks), State::Bad)
        << bad_chunks;
  EXPECT_EQ(whole(post + "X: " + std::string(300, 'a') + "\r\n\r\n"), State::HeadTooLarge);
  EXPECT_EQ(whole(post + std::string(1100, 'a')), State::HeadTooLarge);
  // a chunk announcing more than it sends is still waiting, not Ready (a worker would block)
  EXPECT_EQ(
      whole(post + "Transfer-Encoding: chunked\r\n\r\n40\r\n{\"inputs\":\"hello\"}\r\n0\r\n\r\n"),
      State::Wait);
}

TEST(RequestReader, FuzzedBytesKeepItsPromises) {
  // Whatever arrives, in whatever pieces: a Ready request ends inside the buffer, its body is
  // within the limit and announced by one plain Content-Length (no Transfer-Encoding left), and
  // the buffer stays within head + body + 64 KiB + one read.
  const std::string seeds[] = {
      "POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
      "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
      "GET / HTTP/1.1\r\n\r\n"};
  const char alphabet[] = "\r\n:; 0123456789abcdefABCDEF-chunkedContent-LengthTransfer-Encoding";
  std::mt19937 rng(4242);
  const auto start = std::chrono::steady_clock::now();
  size_t runs = 0, ready = 0;
  for (; runs < 200000 && std::chrono::steady_clock::now() - start < std::chrono::seconds(4);
       ++runs) {
    std::string bytes = seeds[rng() % std::size(seeds)];
    for (int k = 0, edits = 1 + rng() % 6; k < edits; ++k) {
      const size_t pos = rng() % (bytes.size() + 1);
      if (rng() % 3 == 0 && pos < bytes.size())
        bytes.erase(pos, 1 + rng() % 4);
      else
        bytes.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]);
    }
    RequestReader r(kLimits);
    std::string buf;
    for (size_t i = 0; i < bytes.size();) {
      const size_t n = 1 + rng() % 8;
      buf.append(bytes, i, n);
      i += n;
      const State s = r.feed(buf);
      ASSERT_LE(buf.size(), kLimits.max_head + kLimits.max_body + (64 << 10) + bytes.size());
      if (s == State::Wait) continue;
      if (s == State::Ready) {
        ++ready;
        ASSERT_LE(r.request_end(), buf.size());
        const std::string req = buf.substr(0, r.request_end());
        const size_t head = req.find("\r\n\r\n");
        ASSERT_NE(head, std::string::npos) << req;
        ASSERT_LE(req.size() - head - 4, kLimits.max_body) << req;
        ASSERT_EQ(header_at(req.substr(0, head + 2), "transfer-encoding"), std::string::npos)
            << req;
        if (req.size() > head + 4) {
          ASSERT_EQ(content_length(req.substr(0, head + 2)), req.size() - head - 4) << req;
        }
      }
      break;
    }
  }
  std::printf("request reader fuzz: %zu inputs, %zu whole requests\n", runs, ready);
  EXPECT_GT(ready, 100u);
}
