// The HTTP service: routes, request validation, JSON errors, metrics, readiness and the
// SIGINT/SIGTERM drain.
#include "tinybert/serve/server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "page.h"
#include "tinybert/text/normalizer.h"

namespace tinybert::serve {

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// An error answered as {"error": message, "type": type, ...extra} with `status`.
struct HttpError : Error {
  HttpError(int status, std::string type, const std::string& message, json extra = json::object())
      : Error(message), status(status), type(std::move(type)), extra(std::move(extra)) {}
  int status;
  std::string type;
  json extra;
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& type,
                const std::string& message, const json& extra = json::object()) {
  json body = {{"error", message}, {"type", type}};
  body.update(extra);
  send_json(res, status, body);
}

const char* type_name(const json& j) {
  return j.is_array()     ? "an array"
         : j.is_string()  ? "a string"
         : j.is_number()  ? "a number"
         : j.is_boolean() ? "a boolean"
         : j.is_null()    ? "null"
                          : "an object";
}

struct Input {
  std::string text;
  std::optional<std::string> pair;
};

// {"inputs": "t" | ["t", ...] | [["a", "b"], ...], "truncate": bool}
std::vector<Input> parse_inputs(const std::string& body, size_t max_inputs, bool& truncate) {
  if (auto at = text::invalid_utf8_at(body))
    throw HttpError(400, "invalid_utf8", cat("request body is not valid UTF-8 at byte ", *at));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw HttpError(400, "invalid_json", "request body is not valid JSON: " + what);
  }
  if (!j.is_object() || !j.contains("inputs"))
    throw HttpError(422, "invalid_request",
                    "expected a JSON object with \"inputs\": a text, a list of texts, or a list "
                    "of [text, text_pair] pairs");
  if (j.contains("truncate")) {
    if (!j["truncate"].is_boolean())
      throw HttpError(422, "invalid_request",
                      cat("\"truncate\" must be true or false, got ", type_name(j["truncate"])));
    truncate = j["truncate"].get<bool>();
  }
  const json& in = j["inputs"];
  std::vector<Input> out;
  auto text_at = [](const json& v, const std::string& where) {
    if (!v.is_string())
      throw HttpError(422, "invalid_request", cat(where, " must be a string, got ", type_name(v)));
    auto s = v.get<std::string>();
    if (s.empty()) throw HttpError(422, "invalid_request", where + " is an empty string");
    return s;
  };
  if (in.is_string()) {
    out.push_back({text_at(in, "inputs"), std::nullopt});
    return out;
  }
  if (!in.is_array())
    throw HttpError(422, "invalid_request",
                    cat("\"inputs\" must be a string or a list, got ", type_name(in)));
  if (in.empty()) throw HttpError(422, "invalid_request", "\"inputs\" is an empty list");
  if (in.size() > max_inputs)
    throw HttpError(
        413, "too_many_inputs",
        cat("\"inputs\" has ", in.size(), " items; the limit is ", max_inputs, " per request"));
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string where = cat("inputs[", i, "]");
    if (in[i].is_array()) {
      if (in[i].size() != 2)
        throw HttpError(
            422, "invalid_request",
            cat(where, " must be a [text, text_pair] pair, got ", in[i].size(), " items"));
      out.push_back({text_at(in[i][0], where + "[0]"), text_at(in[i][1], where + "[1]")});
    } else {
      out.push_back({text_at(in[i], where), std::nullopt});
    }
  }
  return out;
}

json render(const Prediction& p, const model::BertConfig& c) {
  if (c.is_regression()) return {{"value", p.scores[0]}};
  json scores = json::object();
  for (size_t k = 0; k < p.scores.size(); ++k) scores[c.labels[k]] = p.scores[k];
  return {{"label", c.labels[p.label]}, {"score", p.scores[p.label]}, {"scores", scores}};
}

// The route a path is counted under in /metrics (bounded, whatever URLs clients send).
std::string route_of(const std::string& path) {
  for (const char* r : {"/", "/health", "/v1/models", "/v1/predict", "/metrics"})
    if (path == r) return r;
  return "other";
}

// SIGINT/SIGTERM -> a byte on a pipe that a watcher thread waits for.
int g_signal_pipe[2] = {-1, -1};
extern "C" void on_serve_signal(int) {
  const char b = 1;
  [[maybe_unused]] auto n = ::write(g_signal_pipe[1], &b, 1);
}

// httplib's listen backlog is a compile-time 5 in the Debian build; a burst of connections
// (64 load-test clients) then waits for SYN retries. listen() again raises it.
class HttpServer : public httplib::Server {
 public:
  void raise_backlog(int n) { ::listen(svr_sock_, n); }
};

thread_local Clock::time_point t_request_start;

}  // namespace

int run_server(const ServerOptions& o) {
  Metrics metrics;
  std::unique_ptr<Predictor> predictor;
  std::unique_ptr<Batcher> batcher;
  std::atomic<bool> ready{false};
  const std::string name =
      o.name.empty() ? std::filesystem::path(o.model).lexically_normal().filename().string()
                     : o.name;
  json model_info;

  HttpServer svr;
  svr.new_task_queue = [n = o.http_threads] { return new httplib::ThreadPool(n); };
  svr.set_payload_max_length(o.max_body);
  svr.set_read_timeout(o.read_timeout.count());
  svr.set_tcp_nodelay(true);
  svr.set_keep_alive_max_count(1000);
  // httplib's default adds SO_REUSEPORT, which lets a second server share a busy port silently.
  svr.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  // Every handler answers errors as JSON; nothing a client sends takes the server down.
  auto guarded = [](auto fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const HttpError& e) {
        send_error(res, e.status, e.type, e.what(), e.extra);
      } catch (const std::exception& e) {
        send_error(res, 500, "internal", e.what());
      }
    };
  };
  auto require_ready = [&] {
    if (!ready) throw HttpError(503, "not_ready", "the model is still loading");
  };

  svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_request_start = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Counted after the error handler has set the final status but before the response is written:
  // a client that has its answer sees it in /metrics.
  svr.set_post_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    const double s = t_request_start == Clock::time_point{}
                         ? 0.0
                         : std::chrono::duration<double>(Clock::now() - t_request_start).count();
    t_request_start = {};
    metrics.request(route_of(req.path), res.status, s);
  });
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      send_error(res, 404, "not_found", "no route " + req.method + " " + req.path);
    else if (res.status == 413)
      send_error(res, 413, "payload_too_large", "request body over the size limit");
    else
      send_error(res, res.status, "bad_request", "the request could not be read");
  });

  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kPage, "text/html; charset=utf-8");
  });
  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    if (ready)
      send_json(res, 200, {{"status", "ok"}, {"model", name}});
    else
      send_json(res, 503, {{"status", "loading"}, {"model", name}});
  });
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus(), "text/plain; version=0.0.4");
  });
  svr.Get("/v1/models", guarded([&](const httplib::Request&, httplib::Response& res) {
            require_ready();
            send_json(res, 200, {{"models", json::array({model_info})}});
          }));
  svr.Get("/v1/predict", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", "POST");
    send_error(res, 405, "method_not_allowed", "use POST /v1/predict with a JSON body");
  });
  svr.Post(
      "/v1/predict", guarded([&](const httplib::Request& req, httplib::Response& res) {
        require_ready();
        const auto deadline = Clock::now() + o.timeout;
        batcher->arriving(+1);
        bool submitted = false;
        struct Leave {
          Batcher& b;
          bool& submitted;
          ~Leave() {
            if (!submitted) b.arriving(-1);
          }
        } leave{*batcher, submitted};
        bool truncate = true;
        auto inputs = parse_inputs(req.body, o.max_inputs, truncate);
        std::vector<text::Encoding> rows;
        rows.reserve(inputs.size());
        for (size_t i = 0; i < inputs.size(); ++i) {
          try {
            rows.push_back(predictor->encode(
                inputs[i].text,
                inputs[i].pair ? std::optional<std::string_view>(*inputs[i].pair) : std::nullopt,
                truncate));
          } catch (const TooLong& e) {
            throw HttpError(422, "input_too_long", cat("inputs[", i, "]: ", e.what()),
                            {{"index", i}, {"tokens", e.tokens}, {"max_length", e.max_length}});
          }
        }
        std::future<std::vector<Prediction>> result;
        try {
          result = batcher->submit(std::move(rows), deadline);
        } catch (const QueueFull& e) {
          throw HttpError(429, "queue_full", e.what());
        }
        submitted = true;
        batcher->arriving(-1);
        std::vector<Prediction> predictions;
        try {
          predictions = result.get();
        } catch (const Timeout& e) {
          throw HttpError(503, "timeout", e.what());
        }
        json out = json::array();
        for (const auto& p : predictions) out.push_back(render(p, predictor->config()));
        send_json(res, 200, {{"predictions", out}});
      }));

  // Bind first, so the port is known (and /health answers) while the model loads.
  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port < 0) fail("cannot listen on ", o.host, " (any port)");
  } else if (!svr.bind_to_port(o.host, port)) {
    fail("cannot listen on ", o.host, ":", port, " (in use, or not an address of this machine)");
  }
  svr.raise_backlog(1024);

  if (::pipe(g_signal_pipe) != 0) fail("pipe() failed");
  struct sigaction sa {};
  sa.sa_handler = on_serve_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  std::exception_ptr load_error;
  std::thread loader([&] {
    try {
      predictor = std::make_unique<Predictor>(o.model, o.predictor);
      std::cerr << predictor->load_summary;
      const auto& c = predictor->config();
      model_info = {{"name", name},
                    {"path", o.model},
                    {"architecture", model::architecture_name(c.architecture)},
                    {"task", c.is_regression() ? "regression" : "classification"},
                    {"labels", c.labels},
                    {"max_length", predictor->max_length()},
                    {"num_hidden_layers", c.num_hidden_layers},
                    {"hidden_size", c.hidden_size},
                    {"num_attention_heads", c.num_attention_heads},
                    {"intermediate_size", c.intermediate_size},
                    {"vocab_size", c.vocab_size},
                    {"parameters", predictor->parameters()},
                    {"dtype", o.predictor.dtype == c10::kFloat      ? "fp32"
                              : o.predictor.dtype == c10::kBFloat16 ? "bf16"
                                                                    : "fp16"},
                    {"device", o.predictor.device.str()},
                    {"max_batch", o.batcher.max_batch}};
      batcher = std::make_unique<Batcher>(*predictor, o.batcher, metrics);
      ready = true;
      metrics.ready(true);
      std::cerr << "ready: " << name << " at http://" << o.host << ":" << port
                << "/ (POST /v1/predict; GET / to try it)" << std::endl;
    } catch (...) {
      load_error = std::current_exception();
      on_serve_signal(0);
    }
  });
  std::atomic<bool> listen_returned{false};
  std::thread watcher([&] {
    char b;
    while (::read(g_signal_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
    if (!load_error) std::cerr << "stopping: answering the requests in flight" << std::endl;
    // stop() does nothing before listening starts: a signal or load failure right at start-up
    // waits for it.
    while (!svr.is_running() && !listen_returned)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    svr.stop();
  });

  std::cerr << "listening on http://" << o.host << ":" << port << "/ (loading " << o.model << ")"
            << std::endl;
  svr.listen_after_bind();  // returns after stop(), once every open connection is answered
  listen_returned = true;
  loader.join();
  on_serve_signal(0);  // wakes the watcher if listen ended on its own
  watcher.join();
  if (batcher) batcher->stop();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  ::close(g_signal_pipe[0]);
  ::close(g_signal_pipe[1]);
  if (load_error) std::rethrow_exception(load_error);
  std::cerr << "stopped" << std::endl;
  return 0;
}

}  // namespace tinybert::serve
