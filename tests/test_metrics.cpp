// Metrics against scikit-learn/SciPy on random data, and hand-checked small cases.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "tinybert/data/metrics.h"

using namespace tinybert::data;

TEST(Metrics, HandCheckedCases) {
  std::vector<int64_t> gold{1, 1, 0, 0, 1}, pred{1, 0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(accuracy(pred, gold), 0.6);
  EXPECT_DOUBLE_EQ(f1_binary(pred, gold), 2.0 * 2 / (2 * 2 + 1 + 1));  // tp 2, fp 1, fn 1
  // MCC = (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
  EXPECT_NEAR(matthews(pred, gold), 1.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(matthews({0, 0, 0}, {0, 0, 1}), 0.0);
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 6}), 1.0, 1e-12);
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {10, 20, 20, 40}), 0.9486832980505138, 1e-12);
}

TEST(Metrics, MatchScikitLearnAndSciPy) {
  FILE* p = popen("/usr/bin/python3 " TINYBERT_TESTS "/metrics_reference.py", "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << "metrics_reference.py failed (needs python3-sklearn, python3-scipy)";
  auto j = nlohmann::json::parse(out);
  double worst = 0;
  for (const auto& c : j["classification"]) {
    auto pred = c["pred"].get<std::vector<int64_t>>(), gold = c["gold"].get<std::vector<int64_t>>();
    std::vector<std::string> names{"accuracy", "mcc", "macro_f1"};
    if (c.contains("f1")) names.push_back("f1");
    auto m = classification_metrics(names, pred, gold, c["classes"]);
    for (const auto& n : names) {
      double d = std::abs(m[n] - c[n].get<double>());
      worst = std::max(worst, d);
      EXPECT_LE(d, 1e-9) << n << " with " << c["classes"] << " classes";
    }
  }
  const auto& r = j["regression"];
  auto m = regression_metrics({"pearson", "spearman"}, r["x"], r["y"]);
  for (const char* n : {"pearson", "spearman"}) {
    double d = std::abs(m[n] - r[n].get<double>());
    worst = std::max(worst, d);
    EXPECT_LE(d, 1e-9) << n;
  }
  std::printf("  metrics vs scikit-learn/SciPy: max |diff| %.3g\n", worst);
}
