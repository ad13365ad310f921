// Inference of a batch, its rows shared out to CPU workers, reading only the outputs served.
#pragma once

#include "tinybert/model/heads.h"
#include "tinybert/runtime/workers.h"

namespace tinybert::model {

// The forward pass under inference mode, returning what a served model returns: the
// classification (or regression) logits (B, num_labels), whose last layer runs only at [CLS]
// (the pooler reads nothing else); token classification logits (B, T, num_labels); for other
// heads the MLM logits (B, T, V), or else the last hidden state (B, T, H). With workers on the CPU
// a batch of 16 rows or more is split into one contiguous slice per worker (a classifier's slice
// cut to its own longest row), run side by side and concatenated: each row's output is what a
// forward of that row alone gives.
torch::Tensor infer(AutoBertImpl& m, const BertInputs& in, runtime::Workers* workers = nullptr);

// FLOPs per sequence of infer() (forward_flops less the last layer's work after [CLS] for a
// classifier).
int64_t inference_flops(const BertConfig& c, int64_t seq);

}  // namespace tinybert::model
