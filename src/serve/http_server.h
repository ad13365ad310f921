// An httplib::Server whose connections wait for their whole request in one epoll thread (the
// gate) and only then take a worker: a client that trickles its headers or body, or idles on a
// keep-alive connection, holds no worker, so slow clients cannot starve the others. It also bounds
// what cpp-httplib 0.11 leaves open: the size of the request head, the body whatever its transfer
// encoding (a chunked or length-less body is read to the end there), and the open connections.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tinybert/serve/request_reader.h"
#include "tinybert/serve/server.h"

namespace tinybert::serve {

struct Connection;  // a socket and the bytes received on it (http_server.cpp)

class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(const ConnectionLimits& limits);
  ~HttpServer() override;

  // httplib's listen backlog is a compile-time 5 in the Debian build; a burst of connections
  // (64 load-test clients) then waits for SYN retries. listen() again raises it.
  void raise_backlog(int n);
  // Called for every response, after its status is final (for metrics).
  void on_response(std::function<void(const httplib::Request&, const httplib::Response&)> fn);
  // Called for each request the gate answers itself (400, 408, 413, 431, 503), with the path
  // of its request line when that arrived whole ("" otherwise).
  void on_gate_reply(std::function<void(int status, const std::string& path)> fn);
  // After listen_after_bind() returned: answers the requests the workers hold or have queued,
  // closes every other connection (still sending, idle, or between two requests), and joins
  // the threads.
  void drain();

 private:
  bool process_and_close_socket(socket_t sock) override;  // hands the socket to the gate
  void gate_loop();
  void worker_loop();
  void serve(std::unique_ptr<Connection> c);
  void to_gate(std::unique_ptr<Connection> c);
  void to_workers(std::unique_ptr<Connection> c);
  void reply(Connection& c, int status);  // a JSON error the gate answers itself
  void linger(Connection& c);             // shut for writing; dropped bytes until EOF or 2 s
  void close(std::unique_ptr<Connection> c);

  ConnectionLimits limits_;
  std::function<void(const httplib::Request&, const httplib::Response&)> on_response_;
  std::function<void(int, const std::string&)> on_gate_reply_;
  int epoll_ = -1, wake_ = -1;  // the gate's epoll and eventfd
  std::atomic<size_t> open_{0};
  std::atomic<bool> stopping_{false};
  bool workers_exit_ = false;  // under mu_
  std::mutex mu_;
  std::condition_variable ready_cv_;
  std::vector<std::unique_ptr<Connection>> incoming_;  // new or kept-alive, for the gate
  std::deque<std::unique_ptr<Connection>> ready_;      // whole requests, for the workers
  std::thread gate_;
  std::vector<std::thread> workers_;
  bool drained_ = false;
};

}  // namespace tinybert::serve
