// CoNLL / JSONL readers for tagged sentences, and word-to-piece label alignment.
#include "tinybert/data/tagging.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"

namespace tinybert::data {

std::vector<std::string> conll_columns(const std::string& line) {
  std::vector<std::string> cols;
  const char sep = line.find('\t') != std::string::npos ? '\t' : ' ';
  size_t start = 0;
  while (start <= line.size()) {
    size_t end = line.find(sep, start);
    if (end == std::string::npos) end = line.size();
    if (end > start || sep == '\t') cols.push_back(line.substr(start, end - start));
    start = end + 1;
  }
  return cols;
}

namespace {

// Fails unless every sentence is tagged, or none is.
void check_all_or_none_tagged(const std::vector<TaggedSentence>& out, const std::string& path) {
  for (const auto& s : out)
    if (s.tags.empty() != out.front().tags.empty())
      fail(path, " line ", s.line, ": this sentence is ", s.tags.empty() ? "un" : "",
           "tagged but the one at line ", out.front().line, " is ",
           out.front().tags.empty() ? "un" : "", "tagged");
}

}  // namespace

std::vector<TaggedSentence> read_conll(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::vector<TaggedSentence> out;
  TaggedSentence cur;
  std::string line;
  size_t line_no = 0;
  auto flush = [&] {
    if (!cur.words.empty()) out.push_back(std::move(cur));
    cur = {};
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      flush();
      continue;
    }
    if (line.rfind("-DOCSTART-", 0) == 0) continue;
    auto cols = conll_columns(line);
    if (cols.front().empty()) fail(path, " line ", line_no, ": the word (first column) is empty");
    if (cur.words.empty()) cur.line = line_no;
    const bool tagged = cols.size() > 1;
    if (!cur.words.empty() && tagged != !cur.tags.empty())
      fail(path, " line ", line_no, ": ", tagged ? "a tag" : "no tag",
           " here but the sentence's first word (line ", cur.line, ") has ",
           tagged ? "none" : "one");
    if (tagged && cols.back().empty())
      fail(path, " line ", line_no, ": the tag (last column) is empty");
    cur.words.push_back(cols.front());
    if (tagged) cur.tags.push_back(cols.back());
  }
  flush();
  if (!out.empty()) check_all_or_none_tagged(out, path);
  return out;
}

std::vector<TaggedSentence> read_tagged_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::vector<TaggedSentence> out;
  std::string line;
  size_t line_no = 0;
  auto strings = [&](const nlohmann::json& j, const char* key) {
    std::vector<std::string> v;
    if (!j.contains(key)) return v;
    const auto& a = j[key];
    if (!a.is_array()) fail(path, " line ", line_no, ": \"", key, "\" must be a list of strings");
    for (const auto& x : a) {
      if (!x.is_string() || x.get_ref<const std::string&>().empty())
        fail(path, " line ", line_no, ": \"", key, "\" must hold non-empty strings, found ",
             x.dump().substr(0, 80));
      v.push_back(x.get<std::string>());
    }
    return v;
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = parse_json(line);
    } catch (const JsonError& e) {
      fail(path, " line ", line_no, ": invalid JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("tokens"))
      fail(path, " line ", line_no, ": expected an object with \"tokens\" (and \"tags\")");
    TaggedSentence s{strings(j, "tokens"), strings(j, "tags"), line_no};
    if (s.words.empty()) fail(path, " line ", line_no, ": \"tokens\" is empty");
    if (!s.tags.empty() && s.tags.size() != s.words.size())
      fail(path, " line ", line_no, ": ", s.words.size(), " tokens but ", s.tags.size(), " tags");
    out.push_back(std::move(s));
  }
  if (!out.empty()) check_all_or_none_tagged(out, path);
  return out;
}

std::vector<TaggedSentence> read_tagged_split(const std::string& dir, const std::string& split,
                                              std::string& path) {
  namespace fs = std::filesystem;
  const fs::path txt = fs::path(dir) / (split + ".txt"), jsonl = fs::path(dir) / (split + ".jsonl");
  if (fs::exists(txt)) return read_conll(path = txt.string());
  if (fs::exists(jsonl)) return read_tagged_jsonl(path = jsonl.string());
  fail("no ", split, ".txt (CoNLL) or ", split, ".jsonl in ", dir);
}

std::vector<std::string> collect_tags(const std::vector<TaggedSentence>& sentences) {
  std::set<std::string> tags;
  for (const auto& s : sentences) tags.insert(s.tags.begin(), s.tags.end());
  std::vector<std::string> out;
  if (tags.erase("O")) out.push_back("O");
  out.insert(out.end(), tags.begin(), tags.end());
  return out;
}

std::vector<int64_t> align_labels(const std::vector<int32_t>& word_ids,
                                  const std::vector<int64_t>& word_tags,
                                  const std::vector<std::string>& labels, bool all_pieces) {
  std::vector<int64_t> out(word_ids.size(), kIgnore);
  auto inside = [&](int64_t tag) {  // B-X -> I-X when the labels have I-X
    const std::string& name = labels.at(static_cast<size_t>(tag));
    if (name.rfind("B-", 0) != 0) return tag;
    auto it = std::find(labels.begin(), labels.end(), "I-" + name.substr(2));
    return it == labels.end() ? tag : static_cast<int64_t>(it - labels.begin());
  };
  int32_t prev = -1;
  for (size_t k = 0; k < word_ids.size(); ++k) {
    const int32_t w = word_ids[k];
    if (w >= 0) {
      if (static_cast<size_t>(w) >= word_tags.size())
        fail("word id ", w, " of piece ", k, " is past the sentence's ", word_tags.size(),
             " words");
      if (w != prev)
        out[k] = word_tags[w];
      else if (all_pieces)
        out[k] = inside(word_tags[w]);
    }
    prev = w;
  }
  return out;
}

size_t cut_words(const std::vector<int32_t>& word_ids, size_t words) {
  int32_t last = -1;
  for (int32_t w : word_ids) last = std::max(last, w);
  return words - static_cast<size_t>(last + 1);
}

}  // namespace tinybert::data
