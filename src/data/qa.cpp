// SQuAD / JSONL question readers, context windows with answer tokens, and the n-best span search.
#include "tinybert/data/qa.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"

namespace tinybert::data {

namespace {

// Characters (code points) of UTF-8 text.
int32_t char_count(std::string_view s) {
  return static_cast<int32_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A string field of a JSON object, failing with `where` when absent or not a string.
std::string text_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string())
    fail(where, ": expected a string \"", key, "\"");
  return j[key].get<std::string>();
}

// Checks an example's answers against its context (the text at each answer_start) and v1.1's
// rule that every question has one.
void check_answers(QaExample& e, bool v2) {
  if (e.answers.size() != e.answer_starts.size())
    fail(e.where, ": ", e.answers.size(), " answer texts but ", e.answer_starts.size(),
         " answer_start values");
  if (e.answers.empty() && !v2)
    fail(e.where,
         ": the question has no answer; SQuAD v1.1 needs one for every question "
         "(unanswerable questions are SQuAD v2.0 data: use --task squad_v2)");
  const int32_t n = char_count(e.context);
  for (size_t k = 0; k < e.answers.size(); ++k) {
    const int32_t s = e.answer_starts[k], len = char_count(e.answers[k]);
    if (e.answers[k].empty()) fail(e.where, ": answer ", k + 1, " is empty");
    if (s < 0 || s + len > n)
      fail(e.where, ": answer ", k + 1, " starts at character ", s, " and has ", len,
           " characters, outside the context's ", n);
    if (text::slice_chars(e.context, {s, s + len}) != e.answers[k])
      fail(e.where, ": answer ", k + 1, " \"", e.answers[k].substr(0, 60),
           "\" is not the context's text at its answer_start ", s, " (found \"",
           std::string(text::slice_chars(e.context, {s, s + len})).substr(0, 60), "\")");
  }
}

// Question fields shared by both layouts; `answers` is SQuAD's list of {text, answer_start} or
// the HF datasets object of two lists.
QaExample example_of(const nlohmann::json& q, std::string context, const std::string& where,
                     bool v2) {
  QaExample e;
  e.where = where;
  e.question = text_field(q, "question", where);
  e.context = std::move(context);
  if (q.contains("id")) {
    const auto& id = q["id"];
    if (!id.is_string() && !id.is_number_integer()) fail(where, ": \"id\" must be a string");
    e.id = id.is_string() ? id.get<std::string>() : id.dump();
  }
  const bool impossible = q.contains("is_impossible") && q["is_impossible"].is_boolean() &&
                          q["is_impossible"].get<bool>();
  if (!impossible && q.contains("answers")) {
    const auto& a = q["answers"];
    auto int_at = [&](const nlohmann::json& v) {
      if (!v.is_number_integer())
        fail(where, ": answer_start must be an integer, found ", v.dump());
      const int64_t x = v.get<int64_t>();
      if (x < 0 || x > INT32_MAX) fail(where, ": answer_start ", x, " is out of range");
      return static_cast<int32_t>(x);
    };
    if (a.is_array()) {
      for (const auto& x : a) {
        e.answers.push_back(text_field(x, "text", where + " answers"));
        if (!x.contains("answer_start")) fail(where, ": an answer has no answer_start");
        e.answer_starts.push_back(int_at(x["answer_start"]));
      }
    } else if (a.is_object()) {
      if (!a.contains("text") || !a["text"].is_array() || !a.contains("answer_start") ||
          !a["answer_start"].is_array())
        fail(where, ": \"answers\" must hold the lists \"text\" and \"answer_start\"");
      for (const auto& t : a["text"]) {
        if (!t.is_string()) fail(where, ": answers.text must hold strings");
        e.answers.push_back(t.get<std::string>());
      }
      for (const auto& s : a["answer_start"]) e.answer_starts.push_back(int_at(s));
    } else {
      fail(where, ": \"answers\" must be a list of {text, answer_start} or an object of lists");
    }
  }
  check_answers(e, v2);
  return e;
}

}  // namespace

std::vector<QaExample> read_squad(const std::string& path, bool v2) {
  nlohmann::json j;
  try {
    j = parse_json(read_file(path));
  } catch (const JsonError& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
    fail(path, ": expected SQuAD's layout, an object with a \"data\" list of articles");
  std::vector<QaExample> out;
  for (size_t a = 0; a < j["data"].size(); ++a) {
    const auto& article = j["data"][a];
    const std::string at = cat(path, " article ", a + 1);
    if (!article.is_object() || !article.contains("paragraphs") ||
        !article["paragraphs"].is_array())
      fail(at, ": expected a \"paragraphs\" list");
    for (size_t p = 0; p < article["paragraphs"].size(); ++p) {
      const auto& para = article["paragraphs"][p];
      const std::string pat = cat(at, " paragraph ", p + 1);
      const std::string context = text_field(para, "context", pat);
      if (!para.contains("qas") || !para["qas"].is_array()) fail(pat, ": expected a \"qas\" list");
      for (size_t k = 0; k < para["qas"].size(); ++k) {
        const auto& q = para["qas"][k];
        std::string where = cat(pat, " question ", k + 1);
        if (q.is_object() && q.contains("id") && q["id"].is_string())
          where = cat(path, " question ", q["id"].get<std::string>());
        out.push_back(example_of(q, context, where, v2));
        if (out.back().id.empty()) out.back().id = cat(a + 1, ".", p + 1, ".", k + 1);
      }
    }
  }
  return out;
}

std::vector<QaExample> read_qa_jsonl(const std::string& path, bool v2) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::vector<QaExample> out;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, " line ", line_no);
    nlohmann::json j;
    try {
      j = parse_json(line);
    } catch (const JsonError& e) {
      fail(where, ": invalid JSON: ", e.what());
    }
    out.push_back(example_of(j, text_field(j, "context", where), where, v2));
    if (out.back().id.empty()) out.back().id = std::to_string(line_no);
  }
  return out;
}

std::vector<QaExample> read_qa_split(const std::string& dir, const std::string& split, bool v2,
                                     std::string& path) {
  namespace fs = std::filesystem;
  const fs::path json = fs::path(dir) / (split + ".json"),
                 jsonl = fs::path(dir) / (split + ".jsonl");
  if (fs::exists(json)) return read_squad(path = json.string(), v2);
  if (fs::exists(jsonl)) return read_qa_jsonl(path = jsonl.string(), v2);
  fail("no ", split, ".json (SQuAD) or ", split, ".jsonl in ", dir);
}

std::vector<QaWindow> qa_windows(const QaExample& e, size_t example, const text::Tokenizer& tok,
                                 const QaWindowOptions& o) {
  text::Pieces question, context;
  const size_t lead = e.question.find_first_not_of(" \t\n\r");  // HF run_qa strips the left
  tok.tokenize(std::string_view(e.question).substr(std::min(lead, e.question.size())), question);
  question.truncate(o.max_query_length);
  tok.tokenize(e.context, context);
  const size_t used = question.ids.size() + 3;  // [CLS] question [SEP] ... [SEP]
  const size_t room = o.max_length > used ? o.max_length - used : 0;
  const size_t stride = o.doc_stride.value_or(std::min<size_t>(128, room / 2));
  if (room == 0 || room <= stride)
    fail(e.where, ": a window of --max-length ", o.max_length, " tokens leaves ", room,
         " context tokens after the question's ", question.ids.size(),
         room ? cat(", no more than --doc-stride ", stride, " (the tokens windows share)") : "",
         "; raise --max-length, or lower --doc-stride or --max-query-length");
  // The answer's characters (the first answer, as HF run_qa trains on).
  const bool answered = !e.answers.empty();
  const int32_t a_start = answered ? e.answer_starts[0] : 0;
  const int32_t a_end = answered ? a_start + char_count(e.answers[0]) : 0;
  std::vector<QaWindow> out;
  const size_t n = context.ids.size();
  for (size_t begin = 0;; begin += room - stride) {
    const size_t end = std::min(n, begin + room);
    QaWindow w;
    w.example = example;
    auto part = context.slice(begin, end);
    w.encoding = tok.with_special_tokens(question, &part);
    const int64_t first = static_cast<int64_t>(question.ids.size()) + 2;  // first context token
    const int64_t last = first + static_cast<int64_t>(end - begin) - 1;
    if (answered && end > begin && part.offsets.front()[0] <= a_start &&
        part.offsets.back()[1] >= a_end) {
      const auto& off = w.encoding.offsets;
      int64_t s = first, t = last;
      while (s <= last && off[s][0] <= a_start) ++s;
      while (t >= first && off[t][1] >= a_end) --t;
      w.start = s - 1;
      w.end = t + 1;
    }
    out.push_back(std::move(w));
    if (end >= n) break;
  }
  return out;
}

QaAnswer best_answer(const std::string& context, std::span<const QaWindowLogits> windows,
                     const QaDecodeOptions& o) {
  struct Candidate {
    double score;
    int32_t start, end;  // characters
  };
  std::vector<Candidate> spans;
  double null_score = INFINITY;
  // Indices of the k largest values of v, largest first.
  auto top = [&](std::span<const float> v) {
    std::vector<int64_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    const auto k =
        std::min<size_t>(idx.size(), static_cast<size_t>(std::max<int64_t>(o.n_best, 0)));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return v[a] > v[b]; });
    idx.resize(k);
    return idx;
  };
  for (const auto& w : windows) {
    const auto& e = *w.encoding;
    const auto T = static_cast<int64_t>(std::min({w.start.size(), w.end.size(), e.ids.size()}));
    if (T == 0) continue;
    null_score = std::min(null_score, double(w.start[0]) + w.end[0]);
    auto in_context = [&](int64_t i) { return i < T && e.sequence_ids[i] == 1; };
    for (int64_t s : top(w.start.first(T)))
      for (int64_t t : top(w.end.first(T))) {
        if (!in_context(s) || !in_context(t) || t < s || t - s + 1 > o.max_answer_length) continue;
        spans.push_back({double(w.start[s]) + w.end[t], e.offsets[s][0], e.offsets[t][1]});
      }
  }
  std::sort(spans.begin(), spans.end(),
            [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (spans.size() > static_cast<size_t>(std::max<int64_t>(o.n_best, 1)))
    spans.resize(static_cast<size_t>(std::max<int64_t>(o.n_best, 1)));
  // Probabilities over the n best (and "no answer" with allow_null), as run_qa's softmax.
  double top_score = spans.empty() ? null_score : spans.front().score;
  if (o.allow_null && std::isfinite(null_score)) top_score = std::max(top_score, null_score);
  double total = 0;
  for (const auto& c : spans) total += std::exp(c.score - top_score);
  if (o.allow_null && std::isfinite(null_score)) total += std::exp(null_score - top_score);
  QaAnswer a;
  if (spans.empty()) return a;
  const Candidate& best = spans.front();
  if (o.allow_null && null_score > best.score + o.null_threshold) {
    a.score = std::exp(null_score - top_score) / total;
    return a;
  }
  a.null = false;
  a.start = best.start;
  a.end = best.end;
  a.text = std::string(text::slice_chars(context, {best.start, best.end}));
  a.score = std::exp(best.score - top_score) / total;
  return a;
}

}  // namespace tinybert::data
