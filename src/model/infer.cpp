// Batched inference: [CLS]-only last layer for classifiers, rows split over CPU workers.
#include "tinybert/model/infer.h"

#include <torch/torch.h>

#include <algorithm>

namespace tinybert::model {

namespace {

bool sequence_head(const AutoBertImpl& m) {
  return m.config.architecture == Architecture::SequenceClassification;
}

torch::Tensor served_output(AutoBertImpl& m, const BertInputs& in) {
  if (sequence_head(m)) return m.classify_at_cls(in);  // (B, C)
  auto out = m.forward(in);
  if (out.logits.defined()) return out.logits;  // token classification (B, T, C)
  return out.mlm_logits.defined() ? out.mlm_logits : out.bert.last_hidden_state;
}

// Rows [start, start + n); cut to the longest of them when `trim` (padding is on the right).
BertInputs slice(const BertInputs& in, int64_t start, int64_t n, bool trim) {
  auto rows = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, start, n) : t; };
  BertInputs s{rows(in.input_ids), rows(in.token_type_ids), rows(in.attention_mask)};
  if (!trim || !s.attention_mask.defined()) return s;
  const int64_t len = std::max<int64_t>(1, s.attention_mask.sum(1).max().item<int64_t>());
  auto cols = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(1, 0, len) : t; };
  return {cols(s.input_ids), cols(s.token_type_ids), cols(s.attention_mask)};
}

}  // namespace

torch::Tensor infer(AutoBertImpl& m, const BertInputs& in, runtime::Workers* workers) {
  // Slices of fewer rows lose: the workers share one malloc arena (runtime::tune_allocator), and
  // on 2 cores the 2L-96H student ran batch 4 in 4.1-4.3 ms split, 3.2 ms whole; batch 32 in
  // 15.3-15.9 ms split, 16.5-19.1 ms whole.
  constexpr int64_t min_rows = 8;
  const int64_t B = in.input_ids.size(0);
  const int64_t n = workers && in.input_ids.device().is_cpu()
                        ? std::min<int64_t>(workers->size(), B / min_rows)
                        : 1;
  if (n <= 1) {
    c10::InferenceMode guard;
    return served_output(m, in);
  }
  std::vector<torch::Tensor> parts(static_cast<size_t>(n));
  workers->run(parts.size(), [&](size_t i) {
    c10::InferenceMode guard;
    const int64_t start = B * static_cast<int64_t>(i) / n,
                  end = B * static_cast<int64_t>(i + 1) / n;
    parts[i] = served_output(m, slice(in, start, end - start, sequence_head(m)));
  });
  c10::InferenceMode guard;
  return torch::cat(parts);
}

int64_t inference_flops(const BertConfig& c, int64_t seq) {
  int64_t f = forward_flops(c, seq);
  if (c.architecture == Architecture::SequenceClassification) {
    // the last layer's query and output projections, attention and feed-forward for T - 1 rows
    const int64_t H = c.hidden_size, I = c.intermediate_size, rows = seq - 1;
    f -= rows * (4 * H * H + 4 * seq * H + 4 * H * I);
  }
  return f;
}

}  // namespace tinybert::model
