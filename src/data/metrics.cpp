// Metric formulas (as scikit-learn and SciPy define them).
#include "tinybert/data/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tinybert/core/error.h"

namespace tinybert::data {

namespace {

void check_sizes(size_t a, size_t b) {
  if (a != b) fail("metric: ", a, " predictions for ", b, " labels");
  if (a == 0) fail("metric: no examples");
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    double avg = (i + j) / 2.0 + 1;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
  check_sizes(pred.size(), gold.size());
  size_t ok = 0;
  for (size_t i = 0; i < pred.size(); ++i) ok += pred[i] == gold[i];
  return double(ok) / pred.size();
}

double f1_binary(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold,
                 int64_t positive) {
  check_sizes(pred.size(), gold.size());
  double tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    tp += pred[i] == positive && gold[i] == positive;
    fp += pred[i] == positive && gold[i] != positive;
    fn += pred[i] != positive && gold[i] == positive;
  }
  return tp == 0 ? 0.0 : 2 * tp / (2 * tp + fp + fn);
}

double macro_f1(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold,
                int64_t classes) {
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += f1_binary(pred, gold, c);
  return sum / classes;
}

double matthews(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
  // The multiclass form (Gorodkin 2004), equal to the binary formula for two classes.
  check_sizes(pred.size(), gold.size());
  int64_t k = 0;
  for (size_t i = 0; i < pred.size(); ++i) k = std::max({k, pred[i] + 1, gold[i] + 1});
  std::vector<double> t(k, 0), p(k, 0);
  double c = 0, s = pred.size();
  for (size_t i = 0; i < pred.size(); ++i) {
    t[gold[i]] += 1;
    p[pred[i]] += 1;
    c += pred[i] == gold[i];
  }
  double tp = 0, pp = 0, tt = 0;
  for (int64_t i = 0; i < k; ++i) {
    tp += t[i] * p[i];
    pp += p[i] * p[i];
    tt += t[i] * t[i];
  }
  double denom = std::sqrt((s * s - pp) * (s * s - tt));
  return denom == 0 ? 0.0 : (c * s - tp) / denom;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x.size(), y.size());
  const double n = x.size();
  double mx = std::accumulate(x.begin(), x.end(), 0.0) / n,
         my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx == 0 || syy == 0 ? 0.0 : sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(ranks(x), ranks(y));
}

std::map<std::string, double> classification_metrics(const std::vector<std::string>& names,
                                                     const std::vector<int64_t>& pred,
                                                     const std::vector<int64_t>& gold,
                                                     int64_t classes) {
  std::map<std::string, double> m;
  for (const auto& n : names) {
    if (n == "accuracy")
      m[n] = accuracy(pred, gold);
    else if (n == "f1")
      m[n] = f1_binary(pred, gold, 1);
    else if (n == "macro_f1")
      m[n] = macro_f1(pred, gold, classes);
    else if (n == "mcc")
      m[n] = matthews(pred, gold);
    else
      fail("metric \"", n, "\" does not apply to classification");
  }
  return m;
}

std::map<std::string, double> regression_metrics(const std::vector<std::string>& names,
                                                 const std::vector<double>& pred,
                                                 const std::vector<double>& gold) {
  std::map<std::string, double> m;
  for (const auto& n : names) {
    if (n == "pearson")
      m[n] = pearson(pred, gold);
    else if (n == "spearman")
      m[n] = spearman(pred, gold);
    else
      fail("metric \"", n, "\" does not apply to regression");
  }
  return m;
}

}  // namespace tinybert::data
