// The gate (one epoll thread that reads requests until they are whole), the workers that run
// httplib's request processing on them, and the stream that feeds httplib from the gate's buffer.
#include "http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "tinybert/core/error.h"
#include "tinybert/serve/errors.h"

namespace tinybert::serve {

using Clock = std::chrono::steady_clock;

namespace {

// What a request head says of the body after it.
struct Framing {
  enum Kind { None, Length, Chunked } kind = None;
  uint64_t length = 0;
  bool bad = false;  // unreadable Content-Length, or a Transfer-Encoding other than chunked
  size_t expect_begin = 0, expect_end = 0;  // the "Expect: 100-continue" line, if any
};

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

// Reads Content-Length, Transfer-Encoding and Expect from a head ending in "\r\n\r\n".
Framing parse_framing(std::string_view head) {
  Framing f;
  bool has_length = false, has_encoding = false;
  size_t line = head.find("\r\n") + 2;  // after the request line
  while (line < head.size()) {
    const size_t end = head.find("\r\n", line);
    const std::string_view h = head.substr(line, end - line);
    const size_t colon = h.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = h.substr(0, colon), value = trim(h.substr(colon + 1));
      if (iequals(name, "Content-Length")) {
        uint64_t n = 0;
        const bool digits =
            !value.empty() && value.size() <= 19 &&
            std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        for (char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');
        f.bad |= !digits || (has_length && n != f.length);
        has_length = true;
        f.length = n;
      } else if (iequals(name, "Transfer-Encoding")) {  // httplib reads "chunked" and no other
        f.bad |= has_encoding || !iequals(value, "chunked");
        has_encoding = true;
        f.kind = Framing::Chunked;
      } else if (iequals(name, "Expect") && iequals(value, "100-continue")) {
        f.expect_begin = line, f.expect_end = end + 2;
      }
    }
    line = end + 2;
  }
  if (f.kind != Framing::Chunked && has_length) f.kind = Framing::Length;
  return f;
}

// Waits until `fd` is ready for `events` or `until` passes.
bool wait_for(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() < 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

std::string error_reply(int status, const char* reason, const std::string& type,
                        const std::string& message) {
  const std::string body = error_body(type, message).dump();
  return cat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: application/json\r\n",
             "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// Runs each accepted socket's task at once on the accepting thread: the task only hands the
// socket to the gate.
struct InlineQueue : httplib::TaskQueue {
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

constexpr auto kLinger =
    std::chrono::seconds(2);  // after an error reply, for the client to read it

thread_local bool t_body_read = false, t_unread_body = false;

}  // namespace

struct Connection {
  int fd = -1;
  std::string buf;          // received, not yet consumed by a request
  size_t scanned = 0;       // bytes of buf searched for the end of the head
  size_t head_end = 0;      // 0 until the head is whole
  size_t body_scanned = 0;  // bytes after the head searched for the last chunk
  Framing framing;
  Clock::time_point deadline;
  bool started = false;    // the current request has begun to arrive
  bool eof = false;        // the client shut its side
  bool lingering = false;  // answered and shut for writing: read and dropped until EOF
  size_t served = 0;       // requests answered

  // Ready for the next request: whatever is buffered already belongs to it.
  void next_request(const ConnectionLimits& l) {
    scanned = head_end = body_scanned = 0;
    framing = {};
    started = !buf.empty();
    deadline = Clock::now() + (started ? l.request_timeout : l.idle_timeout);
  }
};

namespace {

// Bytes of chunked body (framing included) accepted before the handler is left to answer 413.
size_t chunked_budget(const ConnectionLimits& l) {
  return 2 * l.max_body + (64 << 10);
}

enum class Readiness { Wait, Ready, HeadTooLarge, BadRequest };

// Whether the gate holds a whole request: its head and, when the head announces one that is
// within limits, its body. Answers "Expect: 100-continue" itself (the body is then awaited here).
Readiness check(Connection& c, const ConnectionLimits& l) {
  if (!c.head_end) {
    size_t skip = 0;  // empty lines before a request line are allowed (RFC 9112 2.2)
    while (skip + 1 < c.buf.size() && c.buf[skip] == '\r' && c.buf[skip + 1] == '\n') skip += 2;
    if (skip) c.buf.erase(0, skip), c.scanned = 0;
    const size_t at = c.buf.find("\r\n\r\n", c.scanned > 3 ? c.scanned - 3 : 0);
    if (at == std::string::npos) {
      c.scanned = c.buf.size();
      return c.buf.size() > l.max_head ? Readiness::HeadTooLarge : Readiness::Wait;
    }
    if (at + 4 > l.max_head) return Readiness::HeadTooLarge;
    c.head_end = at + 4;
    c.framing = parse_framing(std::string_view(c.buf).substr(0, c.head_end));
    if (c.framing.bad) return Readiness::BadRequest;
    if (c.framing.expect_end) {
      c.buf.erase(c.framing.expect_begin, c.framing.expect_end - c.framing.expect_begin);
      c.head_end -= c.framing.expect_end - c.framing.expect_begin;
      c.framing.expect_end = 0;
      const bool wanted = c.framing.kind != Framing::Length || c.framing.length <= l.max_body;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (wanted) (void)::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
    }
  }
  const std::string_view body = std::string_view(c.buf).substr(c.head_end);
  switch (c.framing.kind) {
    case Framing::None:
      return Readiness::Ready;
    case Framing::Length:
      return c.framing.length > l.max_body || body.size() >= c.framing.length ? Readiness::Ready
                                                                              : Readiness::Wait;
    case Framing::Chunked: {
      if (body.size() > chunked_budget(l) || body.rfind("0\r\n\r\n", 0) == 0)
        return Readiness::Ready;
      const size_t from = c.body_scanned > 7 ? c.body_scanned - 7 : 0;
      c.body_scanned = body.size();
      return body.find("\r\n0\r\n\r\n", from) != std::string_view::npos ? Readiness::Ready
                                                                        : Readiness::Wait;
    }
  }
  return Readiness::Wait;
}

// httplib's view of one request: the gate's buffer first, then the socket, never past the end
// the head announced, within the request's deadline and the body budget.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, const ConnectionLimits& l) : c_(c), l_(l) {
    switch (c.framing.kind) {
      case Framing::None:
        end_ = c.head_end;
        break;
      case Framing::Length:
        end_ = c.head_end + (c.framing.length > l.max_body ? 0 : c.framing.length);
        break;
      case Framing::Chunked: {
        end_ = std::string::npos;
        const size_t have = c.buf.size() - c.head_end;
        budget_ = have < chunked_budget(l) ? chunked_budget(l) - have : 0;
        break;
      }
    }
    if (end_ != std::string::npos && end_ > c.buf.size()) budget_ = end_ - c.buf.size();
  }

  bool is_readable() const override {
    return pos_ < std::min(c_.buf.size(), end_) || wait_for(c_.fd, POLLIN, Clock::now());
  }
  bool is_writable() const override {
    return wait_for(c_.fd, POLLOUT, Clock::now() + l_.write_timeout);
  }

  ssize_t read(char* ptr, size_t size) override {
    const size_t buffered = std::min(c_.buf.size(), end_);
    if (pos_ < buffered) {
      size = std::min(size, buffered - pos_);
      std::memcpy(ptr, c_.buf.data() + pos_, size);
      pos_ += size;
      return static_cast<ssize_t>(size);
    }
    if (budget_ == 0) return 0;  // the request has no more bytes
    size = std::min(size, budget_);
    for (;;) {
      const ssize_t n = ::recv(c_.fd, ptr, size, 0);
      if (n > 0) {
        budget_ -= static_cast<size_t>(n);
        return n;
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(c_.fd, POLLIN, c_.deadline))
        return -1;
    }
  }

  ssize_t write(const char* ptr, size_t size) override {
    const auto until = Clock::now() + l_.write_timeout;
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_for(c_.fd, POLLOUT, until)) return -1;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return c_.fd; }

  // Drops what this request read from the buffer; the rest belongs to the next request.
  void consume() {
    c_.buf.erase(0, std::min(pos_, c_.buf.size()));
    pos_ = 0;
  }

 private:
  template <typename Fn>
  void address(Fn fn, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear();
    port = 0;
    if (fn(c_.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
      port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
      port = ntohs(v6->sin6_port);
    }
    ip = text;
  }

  Connection& c_;
  const ConnectionLimits& l_;
  size_t pos_ = 0;                  // bytes of c_.buf read
  size_t end_ = std::string::npos;  // the request's end in c_.buf, when the head says
  size_t budget_ = 0;               // bytes still allowed from the socket
};

}  // namespace

HttpServer::HttpServer(const ConnectionLimits& limits) : limits_(limits) {
  new_task_queue = [] { return new InlineQueue; };
  set_payload_max_length(limits_.max_body);
  set_keep_alive_max_count(limits_.keep_alive_max);
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(limits_.idle_timeout).count()));
  set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // A body the handler did not read is still on the socket: the connection closes after this.
    t_unread_body =
        !t_body_read &&
        (req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0"));
    if (t_unread_body) res.set_header("Connection", "close");
    if (on_response_) on_response_(req, res);
  });
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_ < 0 || wake_ < 0) fail("cannot create the HTTP server's epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  gate_ = std::thread([this] { gate_loop(); });
  for (size_t i = 0; i < limits_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

HttpServer::~HttpServer() {
  drain();
  ::close(epoll_);
  ::close(wake_);
}

void HttpServer::raise_backlog(int n) {
  ::listen(svr_sock_, n);
}

void HttpServer::on_response(
    std::function<void(const httplib::Request&, const httplib::Response&)> fn) {
  on_response_ = std::move(fn);
}

void HttpServer::on_gate_reply(std::function<void(int)> fn) {
  on_gate_reply_ = std::move(fn);
}

void HttpServer::body_read() {
  t_body_read = true;
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  auto c = std::make_unique<Connection>();
  c->fd = sock;
  ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
  int yes = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  if (++open_ > limits_.max_connections || stopping_) {
    reply(*c, 503);
    char sink[4096];  // what the client sent already, so that closing does not reset the reply
    for (int i = 0; i < 16 && ::recv(sock, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
    }
    ::shutdown(sock, SHUT_WR);
    close(std::move(c));
    return true;
  }
  c->next_request(limits_);
  to_gate(std::move(c));
  return true;
}

void HttpServer::to_gate(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lock(mu_);
    incoming_.push_back(std::move(c));
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
}

void HttpServer::to_workers(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lock(mu_);
    ready_.push_back(std::move(c));
  }
  ready_cv_.notify_one();
}

void HttpServer::close(std::unique_ptr<Connection> c) {
  ::close(c->fd);
  --open_;
}

void HttpServer::reply(Connection& c, int status) {
  std::string reply;
  if (status == 408)
    reply = error_reply(
        408, "Request Timeout", "request_timeout",
        cat("the request did not arrive within ", limits_.request_timeout.count() / 1000.0, " s"));
  else if (status == 431)
    reply = error_reply(431, "Request Header Fields Too Large", "headers_too_large",
                        cat("the request line and headers exceed ", limits_.max_head, " bytes"));
  else if (status == 503)
    reply = error_reply(
        503, "Service Unavailable", "too_many_connections",
        cat("the server has ", limits_.max_connections, " connections open; retry later"));
  else
    reply = error_reply(400, "Bad Request", "bad_request", "the request could not be read");
  (void)::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (on_gate_reply_) on_gate_reply_(status);
}

void HttpServer::linger(Connection& c) {
  ::shutdown(c.fd, SHUT_WR);
  c.lingering = true;
  c.buf.clear();
  c.deadline = Clock::now() + kLinger;
}

void HttpServer::gate_loop() {
  std::unordered_map<int, std::unique_ptr<Connection>> waiting;  // watched by epoll
  // Keeps a connection waiting for bytes, or takes it out of the gate: to a worker, or closed
  // (after an error reply, lingering until the client has read it).
  auto settle = [&](std::unique_ptr<Connection> c) {
    const int fd = c->fd;
    const bool watched = waiting.count(fd) > 0;
    Readiness r = Readiness::Wait;
    if (c->lingering)
      c->buf.clear();
    else
      r = check(*c, limits_);
    if (r == Readiness::HeadTooLarge || r == Readiness::BadRequest) {
      reply(*c, r == Readiness::HeadTooLarge ? 431 : 400);
      linger(*c);
      r = Readiness::Wait;
    }
    if (r == Readiness::Wait && !c->eof) {
      if (!watched) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
      }
      waiting[fd] = std::move(c);
      return;
    }
    if (watched) {
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
      waiting.erase(fd);
    }
    if (r == Readiness::Ready)
      to_workers(std::move(c));
    else
      close(std::move(c));  // the client left, mid-request or after an error reply
  };
  // Reads what the socket holds into the buffer (or drops it, when lingering).
  const size_t cap = limits_.max_head + chunked_budget(limits_);
  char chunk[16 << 10];
  auto receive = [&](Connection& c) {
    while (c.lingering || c.buf.size() <= cap) {
      const ssize_t got = ::recv(c.fd, chunk, sizeof chunk, 0);
      if (got > 0) {
        if (c.lingering) continue;
        if (!c.started) {
          c.started = true;
          c.deadline = Clock::now() + limits_.request_timeout;
        }
        c.buf.append(chunk, static_cast<size_t>(got));
      } else if (got < 0 && errno == EINTR) {
        continue;
      } else {
        c.eof = got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        return;
      }
    }
  };
  epoll_event events[256];
  auto last_sweep = Clock::now();
  for (;;) {
    const int n = ::epoll_wait(epoll_, events, 256, 100);
    std::vector<std::unique_ptr<Connection>> incoming;
    {
      std::lock_guard lock(mu_);
      incoming.swap(incoming_);
    }
    if (stopping_) {
      for (auto& c : incoming) close(std::move(c));
      for (auto& [fd, c] : waiting) close(std::move(c));
      return;
    }
    for (auto& c : incoming) settle(std::move(c));
    for (int i = 0; i < n; ++i) {
      auto it = waiting.find(events[i].data.fd);
      if (it == waiting.end()) {  // the eventfd
        uint64_t v;
        [[maybe_unused]] auto r = ::read(wake_, &v, sizeof v);
        continue;
      }
      receive(*it->second);
      settle(std::move(it->second));
    }
    const auto now = Clock::now();
    if (now - last_sweep < std::chrono::milliseconds(100)) continue;
    last_sweep = now;
    std::vector<int> expired;
    for (const auto& [fd, c] : waiting)
      if (c->deadline < now) expired.push_back(fd);
    for (int fd : expired) {
      auto c = std::move(waiting.at(fd));
      if (c->started && !c->lingering) {  // 408, then linger as long again
        reply(*c, 408);
        linger(*c);
        waiting[fd] = std::move(c);
        continue;
      }
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
      waiting.erase(fd);
      close(std::move(c));
    }
  }
}

void HttpServer::worker_loop() {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [&] { return !ready_.empty() || workers_exit_; });
      if (ready_.empty()) return;
      c = std::move(ready_.front());
      ready_.pop_front();
    }
    serve(std::move(c));
  }
}

void HttpServer::serve(std::unique_ptr<Connection> c) {
  ConnectionStream stream(*c, limits_);
  t_body_read = t_unread_body = false;
  bool closed = false;
  const bool last = stopping_ || c->served + 1 >= limits_.keep_alive_max;
  const bool ok = process_request(stream, last, closed, nullptr);
  ++c->served;
  stream.consume();
  if (!ok || closed || last || stopping_ || (c->eof && c->buf.empty())) {
    close(std::move(c));
    return;
  }
  if (t_unread_body)
    linger(*c);
  else
    c->next_request(limits_);
  to_gate(std::move(c));
}

void HttpServer::drain() {
  if (drained_) return;
  drained_ = true;
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
  gate_.join();
  {
    std::lock_guard lock(mu_);
    workers_exit_ = true;
  }
  ready_cv_.notify_all();
  for (auto& w : workers_) w.join();
  std::lock_guard lock(mu_);  // handed back by a worker after the gate left
  for (auto& c : incoming_) close(std::move(c));
  incoming_.clear();
}

}  // namespace tinybert::serve
