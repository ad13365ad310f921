// GLUE metrics: accuracy, F1 (binary, of the positive class 1), macro-F1, Matthews correlation,
// Pearson and Spearman correlation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tinybert::data {

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
double f1_binary(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold,
                 int64_t positive = 1);
double macro_f1(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold,
                int64_t classes);
double matthews(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x,
                const std::vector<double>& y);  // ties get average ranks

// The named metrics for class predictions, or for regression values.
std::map<std::string, double> classification_metrics(const std::vector<std::string>& names,
                                                     const std::vector<int64_t>& pred,
                                                     const std::vector<int64_t>& gold,
                                                     int64_t classes);
std::map<std::string, double> regression_metrics(const std::vector<std::string>& names,
                                                 const std::vector<double>& pred,
                                                 const std::vector<double>& gold);

}  // namespace tinybert::data
