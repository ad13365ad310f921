// seqeval's chunking (default mode) and the token-classification metrics.
#include "tinybert/data/entity_metrics.h"

#include <algorithm>
#include <set>

#include "tinybert/core/error.h"

namespace tinybert::data {

namespace {

// seqeval's end_of_chunk: whether the chunk before position i ends there.
bool end_of_chunk(char prev, char tag, const std::string& prev_type, const std::string& type) {
  if (prev == 'E' || prev == 'S') return true;
  if ((prev == 'B' || prev == 'I') && (tag == 'B' || tag == 'S' || tag == 'O')) return true;
  return prev != 'O' && prev != '.' && prev_type != type;
}

// seqeval's start_of_chunk: whether a chunk starts at position i.
bool start_of_chunk(char prev, char tag, const std::string& prev_type, const std::string& type) {
  if (tag == 'B' || tag == 'S') return true;
  if ((prev == 'E' || prev == 'S' || prev == 'O') && (tag == 'E' || tag == 'I')) return true;
  return tag != 'O' && tag != '.' && prev_type != type;
}

// The prefix letter and the type of a tag ("B-PER" -> 'B', "PER"; "O" -> 'O', "_").
std::pair<char, std::string> split_tag(const std::string& tag) {
  if (tag.empty()) return {'O', "_"};
  std::string rest = tag.substr(1);
  const size_t dash = rest.find('-');
  std::string type = dash == std::string::npos ? rest : rest.substr(dash + 1);
  return {tag[0], type.empty() ? "_" : type};
}

}  // namespace

std::vector<Entity> get_entities(const std::vector<std::string>& tags) {
  std::vector<Entity> chunks;
  char prev = 'O';
  std::string prev_type;
  size_t begin = 0;
  for (size_t i = 0; i <= tags.size(); ++i) {
    auto [tag, type] = split_tag(i < tags.size() ? tags[i] : "O");
    if (end_of_chunk(prev, tag, prev_type, type)) chunks.emplace_back(prev_type, begin, i - 1);
    if (start_of_chunk(prev, tag, prev_type, type)) begin = i;
    prev = tag;
    prev_type = std::move(type);
  }
  return chunks;
}

bool is_entity_scheme(const std::vector<std::string>& labels) {
  bool any = false;
  for (const auto& l : labels) {
    if (l == "O") continue;
    if (l.size() < 3 || l[1] != '-' || std::string_view("BIES").find(l[0]) == std::string::npos)
      return false;
    any = true;
  }
  return any;
}

std::map<std::string, double> tagging_metrics(const std::vector<std::vector<std::string>>& pred,
                                              const std::vector<std::vector<std::string>>& gold,
                                              bool entities) {
  if (pred.size() != gold.size())
    fail("tagging metrics: ", pred.size(), " predicted sentences for ", gold.size(), " gold ones");
  size_t words = 0, right = 0, tp = 0, predicted = 0, actual = 0;
  for (size_t s = 0; s < gold.size(); ++s) {
    if (pred[s].size() != gold[s].size())
      fail("tagging metrics: sentence ", s, " has ", pred[s].size(), " predicted tags for ",
           gold[s].size(), " words");
    words += gold[s].size();
    for (size_t i = 0; i < gold[s].size(); ++i) right += pred[s][i] == gold[s][i];
    if (!entities) continue;
    auto p = get_entities(pred[s]), g = get_entities(gold[s]);
    std::set<Entity> truth(g.begin(), g.end());
    predicted += p.size();
    actual += truth.size();
    for (const auto& e : std::set<Entity>(p.begin(), p.end())) tp += truth.count(e);
  }
  std::map<std::string, double> m{{"accuracy", words ? double(right) / double(words) : 0.0}};
  if (entities) {
    const double precision = predicted ? double(tp) / double(predicted) : 0.0;
    const double recall = actual ? double(tp) / double(actual) : 0.0;
    m["precision"] = precision;
    m["recall"] = recall;
    m["f1"] = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
  }
  return m;
}

}  // namespace tinybert::data
