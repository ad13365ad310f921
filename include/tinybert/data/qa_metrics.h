// Extractive QA metrics as the official SQuAD evaluation scripts compute them: answers normalised
// (lower case, punctuation and articles removed, whitespace collapsed), exact match and token F1
// against the best of the gold answers, in percent; v2.0 adds the HasAns / NoAns breakdown.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tinybert::data {

// The scripts' normalize_answer.
std::string normalize_answer(const std::string& s);
// The v2.0 script's compute_exact and compute_f1 for one gold answer ("" for no answer); the v1.1
// script differs only on empty answers, which it never sees.
double exact_score(const std::string& prediction, const std::string& gold);
double f1_score(const std::string& prediction, const std::string& gold);

// {"exact_match", "f1"} (0-100) over questions, each scored against its best gold answer; with
// `v2`, also HasAns_exact/HasAns_f1/HasAns_total and NoAns_* over questions with and without
// answers (an empty gold list: no answer, scored against ""). golds[i] are question i's answers.
std::map<std::string, double> qa_metrics(const std::vector<std::string>& predictions,
                                         const std::vector<std::vector<std::string>>& golds,
                                         bool v2);

}  // namespace tinybert::data
