// Prometheus rendering of the server's metrics: cumulative buckets, sums, counts and labels.
#include <gtest/gtest.h>

#include <sstream>

#include "tinybert/serve/errors.h"
#include "tinybert/serve/metrics.h"

using tinybert::serve::Histogram;
using tinybert::serve::Metrics;

TEST(ServeMetrics, HistogramIsCumulativeWithInf) {
  Histogram h({1, 5});
  for (double v : {0.5, 1.0, 3.0, 7.0, 9.0}) h.observe(v);
  std::string out;
  h.render(out, "x", "help text");
  EXPECT_EQ(out,
            "# HELP x help text\n# TYPE x histogram\n"
            "x_bucket{le=\"1\"} 2\nx_bucket{le=\"5\"} 3\nx_bucket{le=\"+Inf\"} 5\n"
            "x_sum 20.5\nx_count 5\n");
}

TEST(ServeMetrics, RequestsByRouteAndStatus) {
  Metrics m;
  m.request("/v1/predict", 200, 0.002);
  m.request("/v1/predict", 200, 0.004);
  m.request("/v1/predict", 422, 0.001);
  m.batch(3);
  m.inputs(5);
  m.queue_depth(2);
  m.running(1);
  m.ready(true);
  const auto out = m.prometheus();
  EXPECT_NE(out.find("tinybert_requests_total{path=\"/v1/predict\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(out.find("tinybert_requests_total{path=\"/v1/predict\",status=\"422\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("tinybert_request_errors_total 1\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_request_duration_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_batch_size_bucket{le=\"2\"} 0\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_batch_size_bucket{le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_inputs_total 5\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_queue_depth 2\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_running_requests 1\n"), std::string::npos);
  EXPECT_NE(out.find("tinybert_ready 1\n"), std::string::npos);
}

TEST(ServeErrors, InternalErrorsShowAnIdAndNothingOfTheError) {
  std::ostringstream log;
  const std::string detail =
      "c10::Error: index out of range in self\nException raised from "
      "operator() at ../aten/src/ATen/native/TensorAdvancedIndexing.cpp";
  auto a = tinybert::serve::internal_error_body(detail, log);
  auto b = tinybert::serve::internal_error_body(detail, log);
  EXPECT_EQ(a["type"], "internal");
  const std::string body = a.dump();
  EXPECT_EQ(body.find("index out of range"), std::string::npos) << body;
  EXPECT_EQ(body.find("TensorAdvancedIndexing"), std::string::npos) << body;
  EXPECT_NE(a["error"].get<std::string>().find(a["id"].get<std::string>()), std::string::npos);
  EXPECT_NE(a["id"], b["id"]);
  EXPECT_NE(log.str().find("internal error " + a["id"].get<std::string>() + ": " + detail),
            std::string::npos)
      << log.str();
}
