// Token classification: a class per token from the last hidden state (tagging, named entities).
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>

#include "tasks.h"
#include "tinybert/core/error.h"
#include "tinybert/data/entity_metrics.h"
#include "tinybert/data/tagging.h"

namespace tinybert::task {

namespace {

// HF's get_tag: ("B", "PER") for B-PER, ("I", "PER") for I-PER, ("I", tag) for other tags.
std::pair<char, std::string_view> bi_tag(std::string_view label) {
  if (label.size() > 2 && (label[0] == 'B' || label[0] == 'I') && label[1] == '-')
    return {label[0], label.substr(2)};
  return {'I', label};
}

// One class per token: BertForTokenClassification (tagging, named entities).
class TokenClassification : public Task {
 public:
  data::TaskKind kind() const override { return data::TaskKind::TokenClassification; }
  const char* name() const override { return "token_classification"; }
  model::Architecture architecture() const override {
    return model::Architecture::TokenClassification;
  }
  bool needs_offsets() const override { return true; }
  bool takes_pairs() const override { return false; }

  at::Tensor logits(model::AutoBertImpl& m, const model::BertInputs& in) const override {
    return m.forward(in).logits.to(at::kFloat);  // (B, T, C)
  }

  std::pair<at::Tensor, at::Tensor> rows(const at::Tensor& logits,
                                         const at::Tensor& labels) const override {
    const int64_t C = logits.size(-1);
    if (!labels.defined()) fail("token classification needs the tags of the training data");
    const auto keep = (labels != data::kIgnore).view(-1);  // (B T)
    return {logits.reshape({-1, C}).index({keep}),
            labels.reshape(-1).index({keep})};  // (N, C), (N)
  }

  int64_t rows_of(const data::Dataset& d, size_t i) const override {
    const auto& labels = d.token_labels(i);
    return std::count_if(labels.begin(), labels.end(),
                         [](int64_t l) { return l != data::kIgnore; });
  }

  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override {
    auto [l, y] = rows(logits, labels);           // (N, C), (N)
    if (y.size(0) == 0) return logits.sum() * 0;  // no labelled token in the batch
    return torch::cross_entropy_loss(l, y);
  }

  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>& lengths) const override {
    const auto probs = at::softmax(logits.to(at::kCPU, at::kFloat), -1);  // (B, T, C)
    const auto [best, arg] = probs.max(-1);                               // (B, T) each
    const auto b = best.contiguous(), a = arg.contiguous();
    const int64_t B = probs.size(0), T = probs.size(1);
    std::vector<Prediction> out(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i) {
      const int64_t n = std::min<int64_t>(T, lengths.at(static_cast<size_t>(i)));
      out[i].token_labels.assign(a.data_ptr<int64_t>() + i * T, a.data_ptr<int64_t>() + i * T + n);
      out[i].token_scores.assign(b.data_ptr<float>() + i * T, b.data_ptr<float>() + i * T + n);
    }
    return out;
  }

  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override {
    // Each word's tag from its first piece; a word cut off by --max-length is scored as "O".
    std::vector<std::vector<std::string>> pred, gold;
    for (size_t i = 0; i < p.size(); ++i) {
      const auto& word_ids = d.encoding(i).word_ids;
      const auto& tags = d.word_tags()[i];
      std::vector<std::string> words(tags.size(), "O"), truth;
      for (size_t k = word_ids.size(); k-- > 0;)
        if (word_ids[k] >= 0 && k < p[i].token_labels.size())
          words[static_cast<size_t>(word_ids[k])] = spec.labels[p[i].token_labels[k]];
      for (int64_t t : tags) truth.push_back(spec.labels[t]);
      pred.push_back(std::move(words));
      gold.push_back(std::move(truth));
    }
    auto all = data::tagging_metrics(pred, gold, data::is_entity_scheme(spec.labels));
    std::map<std::string, double> out;
    for (const auto& name : spec.metrics) out[name] = all.at(name);
    return out;
  }

  nlohmann::ordered_json render(std::span<const Prediction> rows,
                                std::span<const text::Encoding> encodings,
                                const std::vector<std::string>& labels, const Input& in,
                                const InputOptions& o) const override {
    const Prediction& p = rows.front();
    const text::Encoding& e = encodings.front();
    const std::string_view text = in.text;
    // HF's token-classification pipeline, aggregation "simple": consecutive tokens of one entity
    // type form a group unless a B- tag starts a new one; groups tagged O are dropped.
    struct Group {
      std::string_view entity;
      int32_t start, end;
      double score_sum;
      int count;
    };
    std::vector<Group> groups;
    for (size_t k = 0; k < p.token_labels.size() && k < e.offsets.size(); ++k) {
      if (e.sequence_ids[k] < 0) continue;  // [CLS], [SEP]
      auto [bi, entity] = bi_tag(labels[p.token_labels[k]]);
      const auto [start, end] = e.offsets[k];
      if (!groups.empty() && groups.back().entity == entity && bi != 'B') {
        groups.back().end = end;
        groups.back().score_sum += p.token_scores[k];
        ++groups.back().count;
      } else {
        groups.push_back({entity, start, end, p.token_scores[k], 1});
      }
    }
    auto entities = nlohmann::ordered_json::array();
    for (const auto& g : groups) {
      if (g.entity == "O") continue;
      entities.push_back({{"entity", std::string(g.entity)},
                          {"word", std::string(text::slice_chars(text, {g.start, g.end}))},
                          {"start", g.start},
                          {"end", g.end},
                          {"score", g.score_sum / g.count}});
    }
    nlohmann::ordered_json answer{{"entities", entities}};
    if (o.tokens) answer["tokens"] = tokens_of(p, e, labels, text);
    return answer;
  }

  // Each word's tag and score (those of its first piece, where the labels sit and eval reads
  // them) and its characters, from its first piece's start to its last piece's end.
  static nlohmann::ordered_json tokens_of(const Prediction& p, const text::Encoding& e,
                                          const std::vector<std::string>& labels,
                                          std::string_view text) {
    auto out = nlohmann::ordered_json::array();
    int32_t word = -1, word_start = 0;
    for (size_t k = 0; k < p.token_labels.size() && k < e.offsets.size(); ++k) {
      if (e.sequence_ids[k] < 0) continue;  // [CLS], [SEP]
      const auto [start, end] = e.offsets[k];
      if (e.word_ids[k] == word) {  // a later piece of the same word: widen it
        out.back()["end"] = end;
        out.back()["word"] = std::string(text::slice_chars(text, {word_start, end}));
        continue;
      }
      word = e.word_ids[k], word_start = start;
      out.push_back({{"index", word},
                     {"word", std::string(text::slice_chars(text, {start, end}))},
                     {"tag", labels[p.token_labels[k]]},
                     {"start", start},
                     {"end", end},
                     {"score", p.token_scores[k]}});
    }
    return out;
  }
};

}  // namespace

const Task& token_classification() {
  static const TokenClassification task;
  return task;
}

}  // namespace tinybert::task
