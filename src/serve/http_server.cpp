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

// Waits until `fd` is ready for `events` or `until` passes (a time already past: polls once).
bool wait_for(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    pollfd p{fd, events, 0};
    const int r =
        ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, 1 << 30)));
    if (r >= 0 || errno != EINTR) return r > 0;
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

constexpr auto kLinger = std::chrono::seconds(2);  // after an error reply, for it to be read

// The path of the request line at the start of `buf` ("METHOD /path?query HTTP/1.1"), or "".
std::string request_path(const std::string& buf) {
  const size_t end = buf.find("\r\n");
  const size_t a = buf.find(' ');
  if (end == std::string::npos || a == std::string::npos || a > end) return "";
  const size_t b = buf.find_first_of(" ?", a + 1);
  return buf.substr(a + 1, std::min(b, end) - a - 1);
}

}  // namespace

struct Connection {
  int fd = -1;
  std::string buf;  // received, not yet consumed by a request
  std::unique_ptr<RequestReader> reader;
  Clock::time_point deadline;
  bool started = false;    // the current request has begun to arrive
  bool eof = false;        // the client shut its side
  bool lingering = false;  // answered and shut for writing: read and dropped until EOF
  size_t served = 0;       // requests answered

  // Ready for the next request: whatever is buffered already belongs to it.
  void next_request(const ConnectionLimits& l) {
    reader->reset();
    started = !buf.empty();
    deadline = Clock::now() + (started ? l.request_timeout : l.idle_timeout);
  }
};

namespace {

// httplib's view of one request: the bytes the gate read, up to the request's end, and writes
// to the socket within the write timeout. Nothing is read from the socket here.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, const ConnectionLimits& l)
      : c_(c), l_(l), end_(c.reader->request_end()) {}

  bool is_readable() const override { return pos_ < end_; }
  bool is_writable() const override {
    return wait_for(c_.fd, POLLOUT, Clock::now() + l_.write_timeout);
  }

  ssize_t read(char* ptr, size_t size) override {
    size = std::min(size, end_ - pos_);
    std::memcpy(ptr, c_.buf.data() + pos_, size);
    pos_ += size;
    return static_cast<ssize_t>(size);
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
  size_t pos_ = 0;  // bytes of c_.buf read
  const size_t end_;
};

}  // namespace

HttpServer::HttpServer(const ConnectionLimits& limits) : limits_(limits) {
  new_task_queue = [] { return new InlineQueue; };
  set_payload_max_length(limits_.max_body);
  set_keep_alive_max_count(limits_.keep_alive_max);
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(limits_.idle_timeout).count()));
  set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
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

void HttpServer::on_gate_reply(std::function<void(int, const std::string&)> fn) {
  on_gate_reply_ = std::move(fn);
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
  c->reader = std::make_unique<RequestReader>(
      RequestLimits{.max_head = limits_.max_head, .max_body = limits_.max_body});
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
    reply = error_reply(
        431, "Request Header Fields Too Large", "headers_too_large",
        cat("the request line and headers exceed ", limits_.max_head, " bytes, or one line 8 KiB"));
  else if (status == 413)
    reply = error_reply(413, "Payload Too Large", "payload_too_large",
                        cat("request body over the limit of ", limits_.max_body / 1024, " KiB"));
  else if (status == 503)
    reply = error_reply(
        503, "Service Unavailable", "too_many_connections",
        cat("the server has ", limits_.max_connections, " connections open; retry later"));
  else
    reply = error_reply(400, "Bad Request", "bad_request",
                        "malformed request framing (Content-Length, Transfer-Encoding, chunks "
                        "or header names)");
  (void)::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (on_gate_reply_) on_gate_reply_(status, request_path(c.buf));
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
    using State = RequestReader::State;
    const int fd = c->fd;
    const bool watched = waiting.count(fd) > 0;
    State r = State::Wait;
    if (c->lingering)
      c->buf.clear();
    else
      r = c->reader->feed(c->buf);
    if (r == State::Wait && c->reader->take_continue()) {  // the client waits for it to send
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      (void)::send(fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (r == State::HeadTooLarge || r == State::BodyTooLarge || r == State::Bad) {
      reply(*c, r == State::HeadTooLarge ? 431 : r == State::BodyTooLarge ? 413 : 400);
      linger(*c);
      r = State::Wait;
    }
    if (r == State::Wait && !c->eof) {
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
    if (r == State::Ready)
      to_workers(std::move(c));
    else
      close(std::move(c));  // the client left, mid-request or after an error reply
  };
  // Reads what the socket holds into the buffer (or drops it, when lingering), at most 1 MiB a
  // turn, so that one fast sender cannot hold the gate, and no more than a request can use
  // before the reader has looked at it (a decoded chunked body leaves the buffer as it goes).
  const size_t cap = limits_.max_head + limits_.max_body + (64 << 10);
  char chunk[16 << 10];
  auto receive = [&](Connection& c) {
    for (int turn = 0; turn < 64 && (c.lingering || c.buf.size() <= cap); ++turn) {
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
  bool closed = false;
  const bool last = stopping_ || c->served + 1 >= limits_.keep_alive_max;
  ConnectionStream stream(*c, limits_);
  const bool ok = process_request(stream, last, closed, nullptr);
  ++c->served;
  // The request ends where the reader says, however much of it httplib read (a bad request
  // line is answered after its first line): what follows can only be the next request.
  c->buf.erase(0, c->reader->request_end());
  if (!ok || closed || last || stopping_ || (c->eof && c->buf.empty())) {
    close(std::move(c));
    return;
  }
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
