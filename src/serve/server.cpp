// The HTTP service: routes, request validation, JSON errors, metrics, readiness and the
// SIGINT/SIGTERM drain.
#include "tinybert/serve/server.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "http_server.h"
#include "page.h"
#include "tinybert/core/json.h"
#include "tinybert/serve/errors.h"
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
  send_json(res, status, error_body(type, message, extra));
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

task::Input input_of(const Input& in) {
  return {in.text, in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt};
}

// What a request may ask besides its inputs.
struct RequestFlags {
  bool truncate = true;  // cut a longer input (else 422)
  bool tokens = false;   // token classification: each word's tag too
};

// {"inputs": "t" | ["t", ...] | [["a", "b"], ...] | {"question", "context"} | [{...}, ...],
//  "truncate": bool, "tokens": bool}
std::vector<Input> parse_inputs(const std::string& body, size_t max_inputs, RequestFlags& flags) {
  if (auto at = text::invalid_utf8_at(body))
    throw HttpError(400, "invalid_utf8", cat("request body is not valid UTF-8 at byte ", *at));
  json j;
  try {
    j = parse_json<json>(body);
  } catch (const JsonError& e) {
    throw HttpError(400, "invalid_json", cat("request body is not valid JSON: ", e.what()));
  }
  if (!j.is_object() || !j.contains("inputs"))
    throw HttpError(422, "invalid_request",
                    "expected a JSON object with \"inputs\": a text, a list of texts, a list "
                    "of [text, text_pair] pairs, or {\"question\", \"context\"} objects");
  for (auto [key, flag] : {std::pair{"truncate", &flags.truncate}, {"tokens", &flags.tokens}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_boolean())
      throw HttpError(422, "invalid_request",
                      cat("\"", key, "\" must be true or false, got ", type_name(j[key])));
    *flag = j[key].get<bool>();
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
  // {"question": ..., "context": ...}: the pair a question-answering model reads.
  auto question = [&](const json& v, const std::string& where) -> Input {
    for (const auto& [key, value] : v.items())
      if (key != "question" && key != "context")
        throw HttpError(422, "invalid_request",
                        cat(where, " has an unknown field \"", key.substr(0, 40),
                            "\" (expected \"question\" and \"context\")"));
    if (!v.contains("question") || !v.contains("context"))
      throw HttpError(422, "invalid_request",
                      cat(where, " must have \"question\" and \"context\""));
    return {text_at(v["question"], where + ".question"), text_at(v["context"], where + ".context")};
  };
  if (in.is_string()) {
    out.push_back({text_at(in, "inputs"), std::nullopt});
    return out;
  }
  if (in.is_object()) {
    out.push_back(question(in, "inputs"));
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
    } else if (in[i].is_object()) {
      out.push_back(question(in[i], where));
    } else {
      out.push_back({text_at(in[i], where), std::nullopt});
    }
  }
  return out;
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

thread_local Clock::time_point t_request_start;

// A 500 that shows the client no internals: an id to quote, the detail in the server log.
void send_internal_error(httplib::Response& res, const std::string& detail) {
  send_json(res, 500, internal_error_body(detail, std::cerr));
}

// The body, read whatever its transfer encoding or content type, within `max` bytes (413).
std::string read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                      size_t max) {
  if (req.is_multipart_form_data())
    throw HttpError(415, "unsupported_media_type",
                    "a multipart form is not read: send the JSON itself as the request body");
  const auto encoding = req.get_header_value("Content-Encoding");
  if (!encoding.empty() && encoding != "identity" && encoding != "gzip" && encoding != "deflate" &&
      encoding != "br")
    throw HttpError(415, "unsupported_media_type",
                    "Content-Encoding \"" + encoding.substr(0, 64) +
                        "\" is not read (gzip, deflate, br or none)");
  std::string body;
  bool too_large = false;
  const bool ok = reader([&](const char* data, size_t n) {
    too_large = body.size() + n > max;
    if (!too_large) body.append(data, n);
    return !too_large;
  });
  const auto declared = req.get_header_value("Content-Length");
  if (too_large || (!declared.empty() && std::strtoull(declared.c_str(), nullptr, 10) > max))
    throw HttpError(413, "payload_too_large",
                    cat("request body over the limit of ", max / 1024, " KiB"));
  if (!ok)
    throw HttpError(400, "bad_request",
                    "the request body could not be decompressed (Content-Encoding)");
  return body;
}

// Runs a handler's work; its errors become JSON replies, so nothing a client sends takes the
// server down or sees internals.
template <typename Fn>
void answer(httplib::Response& res, Fn&& fn) {
  try {
    fn();
  } catch (const HttpError& e) {
    send_error(res, e.status, e.type, e.what(), e.extra);
  } catch (const std::exception& e) {
    send_internal_error(res, e.what());
  } catch (...) {
    send_internal_error(res, "unknown exception");
  }
}

// The running service: the HTTP front end, the model once loaded, its batcher and the metrics.
class Service {
 public:
  explicit Service(const ServerOptions& o)
      : o_(o),
        name_(o.name.empty() ? std::filesystem::path(o.model).lexically_normal().filename().string()
                             : o.name),
        http_(o.connections) {}

  // Binds, loads the model on a thread while /health answers 503, serves until a signal, drains.
  int run() {
    port_ = bind();
    add_routes();
    SignalPipe signals;
    std::exception_ptr load_error;
    std::thread loader([&] {
      try {
        load();
      } catch (...) {
        load_error = std::current_exception();
        signals.notify();
      }
    });
    std::atomic<bool> listen_returned{false};
    std::thread watcher([&] {
      signals.wait();
      if (!load_error) std::cerr << "stopping: answering the requests in flight" << std::endl;
      // stop() does nothing before listening starts: a signal right at start-up waits for it.
      while (!http_.is_running() && !listen_returned)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      http_.stop();
    });
    std::cerr << "listening on http://" << o_.host << ":" << port_ << "/ (loading " << o_.model
              << ")" << std::endl;
    http_.listen_after_bind();  // returns after stop()
    listen_returned = true;
    http_.drain();  // answers the requests received, closes idle connections
    loader.join();
    signals.notify();  // wakes the watcher if listening ended on its own
    watcher.join();
    if (batcher_) batcher_->stop();
    if (load_error) std::rethrow_exception(load_error);
    std::cerr << "stopped" << std::endl;
    return 0;
  }

 private:
  // SIGINT/SIGTERM -> a byte on a pipe that the watcher waits for; the old actions come back
  // at destruction.
  class SignalPipe {
   public:
    SignalPipe() {
      if (::pipe(g_signal_pipe) != 0) fail("pipe() failed");
      struct sigaction sa {};
      sa.sa_handler = on_serve_signal;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, &old_int_);
      sigaction(SIGTERM, &sa, &old_term_);
    }
    ~SignalPipe() {
      sigaction(SIGINT, &old_int_, nullptr);
      sigaction(SIGTERM, &old_term_, nullptr);
      ::close(g_signal_pipe[0]);
      ::close(g_signal_pipe[1]);
    }
    void notify() { on_serve_signal(0); }
    void wait() {
      char b;
      while (::read(g_signal_pipe[0], &b, 1) < 0 && errno == EINTR) {
      }
    }

   private:
    struct sigaction old_int_ {
    }, old_term_{};
  };

  // Binds first, so that the port is known (and /health answers) while the model loads.
  int bind() {
    // httplib's default adds SO_REUSEPORT, which lets a second server share a busy port silently.
    http_.set_socket_options([](int sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    int port = o_.port;
    if (port == 0) {
      port = http_.bind_to_any_port(o_.host);
      if (port < 0) fail("cannot listen on ", o_.host, " (any port)");
    } else if (!http_.bind_to_port(o_.host, port)) {
      fail("cannot listen on ", o_.host, ":", port, " (in use, or not an address of this machine)");
    }
    http_.raise_backlog(1024);
    return port;
  }

  void load() {
    predictor_ = std::make_unique<infer::Predictor>(o_.model, o_.predictor);
    std::cerr << predictor_->load_summary;
    model_info_ = describe_model();
    batcher_ = std::make_unique<Batcher>(*predictor_, o_.batcher, metrics_);
    ready_ = true;
    metrics_.ready(true);
    std::cerr << "ready: " << name_ << " at http://" << o_.host << ":" << port_
              << "/ (POST /v1/predict; GET / to try it)" << std::endl;
  }

  json describe_model() const {
    const auto& c = predictor_->config();
    const auto dtype = o_.predictor.dtype;
    return {{"name", name_},
            {"path", o_.model},
            {"architecture", model::architecture_name(c.architecture)},
            {"task", predictor_->task().name()},
            {"labels", c.labels},
            {"max_length", predictor_->max_length()},
            {"num_hidden_layers", c.num_hidden_layers},
            {"hidden_size", c.hidden_size},
            {"num_attention_heads", c.num_attention_heads},
            {"intermediate_size", c.intermediate_size},
            {"vocab_size", c.vocab_size},
            {"parameters", predictor_->parameters()},
            {"dtype", dtype == c10::kFloat      ? "fp32"
                      : dtype == c10::kBFloat16 ? "bf16"
                      : dtype == c10::kHalf     ? "fp16"
                                                : c10::toString(dtype)},
            {"device", o_.predictor.device.str()},
            {"max_batch", o_.batcher.max_batch}};
  }

  void require_ready() const {
    if (!ready_) throw HttpError(503, "not_ready", "the model is still loading");
  }

  void add_routes() {
    http_.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
      t_request_start = Clock::now();
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Counted once the status is final but before the response is written: a client that has
    // its answer sees it in /metrics.
    http_.on_response([this](const httplib::Request& req, const httplib::Response& res) {
      const double s = t_request_start == Clock::time_point{}
                           ? 0.0
                           : std::chrono::duration<double>(Clock::now() - t_request_start).count();
      t_request_start = {};
      metrics_.request(route_of(req.path), res.status, s);
    });
    http_.on_gate_reply([this](int status, const std::string& path) {
      metrics_.request(route_of(path), status, 0.0);
    });
    http_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            send_internal_error(res, cat("in the HTTP layer: ", e.what()));
          } catch (...) {
            send_internal_error(res, "in the HTTP layer: unknown exception");
          }
        });
    http_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404)
        send_error(res, 404, "not_found", "no route " + req.method + " " + req.path);
      else if (res.status == 413)
        send_error(res, 413, "payload_too_large", "request body over the size limit");
      else
        send_error(res, res.status, "bad_request", "the request could not be read");
    });

    http_.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kPage, "text/html; charset=utf-8");
    });
    http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, ready_ ? 200 : 503, {{"status", ready_ ? "ok" : "loading"}, {"model", name_}});
    });
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.prometheus(), "text/plain; version=0.0.4");
    });
    http_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      answer(res, [&] {
        require_ready();
        send_json(res, 200, {{"models", json::array({model_info_})}});
      });
    });
    http_.Get("/v1/predict",
              [](const httplib::Request&, httplib::Response& res) { method_not_allowed(res); });
    // Bodies are read by our handlers only (httplib would read a chunked body without limit).
    http_.Post("/v1/predict", [this](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
      answer(res, [&] { predict(read_body(req, reader, o_.connections.max_body), res); });
    });
    auto other = [](const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader&) {
      if (req.path == "/v1/predict")
        method_not_allowed(res);
      else
        send_error(res, 404, "not_found", "no route " + req.method + " " + req.path);
    };
    http_.Post(".*", other);
    http_.Put(".*", other);
    http_.Patch(".*", other);
    http_.Delete(".*", other);
  }

  static void method_not_allowed(httplib::Response& res) {
    res.set_header("Allow", "POST");
    send_error(res, 405, "method_not_allowed", "use POST /v1/predict with a JSON body");
  }

  void predict(const std::string& body, httplib::Response& res) {
    require_ready();
    const auto deadline = Clock::now() + o_.timeout;
    batcher_->arriving(+1);
    bool submitted = false;
    struct Leave {
      Batcher& b;
      bool& submitted;
      ~Leave() {
        if (!submitted) b.arriving(-1);
      }
    } leave{*batcher_, submitted};
    RequestFlags flags;
    auto inputs = parse_inputs(body, o_.max_inputs, flags);
    if (flags.tokens && predictor_->task().kind() != data::TaskKind::TokenClassification)
      throw HttpError(422, "invalid_request",
                      cat("\"tokens\" is for token_classification models; this one is ",
                          predictor_->task().name()));
    infer::InputRows rows;
    for (size_t i = 0; i < inputs.size(); ++i) {
      try {
        rows.add(predictor_->encode(input_of(inputs[i]), flags.truncate));
      } catch (const infer::TooLong& e) {
        throw HttpError(422, "input_too_long", cat("inputs[", i, "]: ", e.what()),
                        {{"index", i}, {"tokens", e.tokens}, {"max_length", e.max_length}});
      } catch (const infer::InvalidInput& e) {
        throw HttpError(422, "invalid_request", cat("inputs[", i, "]: ", e.what()), {{"index", i}});
      }
    }
    std::future<std::vector<infer::Prediction>> result;
    try {
      result = batcher_->submit(rows.rows, deadline);  // rows stay here: render() reads offsets
    } catch (const QueueFull& e) {
      throw HttpError(429, "queue_full", e.what());
    }
    submitted = true;
    batcher_->arriving(-1);
    std::vector<infer::Prediction> predictions;
    try {
      predictions = result.get();
    } catch (const Timeout& e) {
      throw HttpError(503, "timeout", e.what());
    }
    json out = json::array();
    for (size_t i = 0; i < inputs.size(); ++i)
      out.push_back(predictor_->render(rows, predictions, i, input_of(inputs[i]), flags.tokens));
    send_json(res, 200, {{"predictions", out}});
  }

  const ServerOptions& o_;
  const std::string name_;
  HttpServer http_;
  int port_ = 0;
  Metrics metrics_;
  std::unique_ptr<infer::Predictor> predictor_;
  std::unique_ptr<Batcher> batcher_;
  std::atomic<bool> ready_{false};
  json model_info_;
};

}  // namespace

int run_server(const ServerOptions& o) {
  return Service(o).run();
}

}  // namespace tinybert::serve
