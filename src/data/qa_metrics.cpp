// SQuAD's answer normalisation, exact match and token F1, and their averages.
#include "tinybert/data/qa_metrics.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "tinybert/core/error.h"

namespace tinybert::data {

namespace {

// Code points of UTF-8 text (invalid bytes kept as themselves).
std::vector<int32_t> code_points(const std::string& s) {
  std::vector<int32_t> out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp;
    auto n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) cp = p[i], n = 1;
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return out;
}

std::string to_utf8(const std::vector<int32_t>& cps) {
  std::string out;
  utf8proc_uint8_t buf[4];
  for (int32_t c : cps) out.append(reinterpret_cast<char*>(buf), utf8proc_encode_char(c, buf));
  return out;
}

// Python's str.isspace() (what str.split() splits at).
bool is_space(int32_t c) {
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85) return true;
  const auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// A character Python's \w matches (letters, digits, underscore).
bool is_word(int32_t c) {
  if (c == '_') return true;
  const auto cat = utf8proc_category(c);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// str.split(): the whitespace-separated tokens.
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::vector<int32_t> cur;
  for (int32_t c : code_points(s)) {
    if (!is_space(c)) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      out.push_back(to_utf8(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(to_utf8(cur));
  return out;
}

}  // namespace

std::string normalize_answer(const std::string& s) {
  // lower(), then string.punctuation removed.
  std::vector<int32_t> t;
  for (int32_t c : code_points(s))
    if (!(c < 128 && std::strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) && c != 0))
      t.push_back(utf8proc_tolower(c));
  // re.sub(r"\b(a|an|the)\b", " ", text)
  std::vector<int32_t> u;
  for (size_t i = 0; i < t.size();) {
    size_t len = 0;
    if (i == 0 || !is_word(t[i - 1]))
      for (const char* a : {"the", "an", "a"}) {
        const size_t n = std::strlen(a);
        if (i + n <= t.size() && std::equal(a, a + n, t.begin() + i) &&
            (i + n == t.size() || !is_word(t[i + n]))) {
          len = n;
          break;
        }
      }
    if (len) {
      u.push_back(' ');
      i += len;
    } else {
      u.push_back(t[i++]);
    }
  }
  // " ".join(text.split())
  std::string out;
  for (const auto& w : split(to_utf8(u))) out += (out.empty() ? "" : " ") + w;
  return out;
}

double exact_score(const std::string& prediction, const std::string& gold) {
  return normalize_answer(prediction) == normalize_answer(gold) ? 1.0 : 0.0;
}

double f1_score(const std::string& prediction, const std::string& gold) {
  const auto p = split(normalize_answer(prediction)), g = split(normalize_answer(gold));
  if (p.empty() || g.empty()) return p.empty() && g.empty() ? 1.0 : 0.0;
  std::unordered_map<std::string, int> counts;
  for (const auto& w : g) ++counts[w];
  int same = 0;
  for (const auto& w : p)
    if (counts[w]-- > 0) ++same;
  if (same == 0) return 0.0;
  const double precision = double(same) / p.size(), recall = double(same) / g.size();
  return 2 * precision * recall / (precision + recall);
}

std::map<std::string, double> qa_metrics(const std::vector<std::string>& predictions,
                                         const std::vector<std::vector<std::string>>& golds,
                                         bool v2) {
  if (predictions.size() != golds.size())
    fail("qa_metrics: ", predictions.size(), " predictions for ", golds.size(), " questions");
  double em[2] = {0, 0}, f1[2] = {0, 0}, n[2] = {0, 0};  // [0]: no answer, [1]: has answer
  for (size_t i = 0; i < golds.size(); ++i) {
    std::vector<std::string> g;  // the v2.0 script drops answers that normalise to nothing
    for (const auto& a : golds[i])
      if (!normalize_answer(a).empty()) g.push_back(a);
    if (g.empty()) g.push_back("");
    const int has = g.front().empty() ? 0 : 1;
    double e = 0, f = 0;
    for (const auto& a : g) {
      e = std::max(e, exact_score(predictions[i], a));
      f = std::max(f, f1_score(predictions[i], a));
    }
    em[has] += e, f1[has] += f, ++n[has];
  }
  const double total = std::max(1.0, n[0] + n[1]);
  std::map<std::string, double> m{{"exact_match", 100 * (em[0] + em[1]) / total},
                                  {"f1", 100 * (f1[0] + f1[1]) / total}};
  if (v2) {
    const char* names[2] = {"NoAns_", "HasAns_"};
    for (int h = 0; h < 2; ++h) {
      m[std::string(names[h]) + "exact"] = n[h] ? 100 * em[h] / n[h] : 0.0;
      m[std::string(names[h]) + "f1"] = n[h] ? 100 * f1[h] / n[h] : 0.0;
      m[std::string(names[h]) + "total"] = n[h];
    }
  }
  return m;
}

}  // namespace tinybert::data
