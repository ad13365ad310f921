// Token-classification metrics as seqeval computes them (default mode): token accuracy, and
// entity-level micro precision / recall / F1 over chunks of IOB2 or BIOES tags.
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace tinybert::data {

// An entity: type and word span [begin, end] (inclusive, as seqeval's get_entities).
using Entity = std::tuple<std::string, size_t, size_t>;

// The chunks of one tag sequence ("B-PER", "I-PER", "E-PER", "S-PER", "O"), exactly as seqeval's
// get_entities: an I- or E- after O or after another type starts a chunk, a type change ends one.
std::vector<Entity> get_entities(const std::vector<std::string>& tags);

// Whether tags name entities (every tag is O or X-TYPE with X one of B, I, E, S).
bool is_entity_scheme(const std::vector<std::string>& labels);

// {"accuracy"} over all words, plus {"precision", "recall", "f1"} (micro, over all sentences'
// entities) when `entities`; 0 where a denominator is 0.
std::map<std::string, double> tagging_metrics(const std::vector<std::vector<std::string>>& pred,
                                              const std::vector<std::vector<std::string>>& gold,
                                              bool entities);

}  // namespace tinybert::data
