// TinyBERT's losses (Jiao et al. 2020, and the authors' code): attention MSE on pre-softmax scores,
// hidden-state MSE through a learned projection, soft cross-entropy at a temperature, and the
// layer map that pairs student layers with teacher layers.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include <map>
#include <string>
#include <vector>

#include "tinybert/model/bert.h"
#include "tinybert/train/trainer.h"

namespace tinybert::distill {

using train::LossTerms;

// MSE between pre-softmax attention scores (B, heads, T, T), after setting every score <= -1e2
// (masked positions) to 0 on both sides; mean over all elements.
at::Tensor attention_loss(const at::Tensor& student, const at::Tensor& teacher);
// MSE between projected student hidden states and the teacher's (B, T, H_teacher); mean.
at::Tensor hidden_loss(const at::Tensor& student_projected, const at::Tensor& teacher);
// mean(-softmax(t / T) * log_softmax(s / T)) over batch and classes (B, C).
at::Tensor soft_cross_entropy(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                              double temperature);

// Which teacher layer each student layer learns from.
struct LayerMap {
  std::vector<int64_t> hidden;  // student hidden state i (0 = embeddings) <- teacher hidden state
  std::vector<int64_t> attention;  // student layer i (0-based) <- teacher layer (0-based)

  // k = teacher/student layers (must divide): hidden i <- i*k, attention i <- i*k + k - 1.
  static LayerMap uniform(int64_t teacher_layers, int64_t student_layers);
  // "0,3,6,9,12": the teacher hidden state for each student hidden state (student_layers + 1
  // entries, increasing, first 0); student layer i learns attention from teacher layer list[i+1]-1.
  static LayerMap parse(const std::string& list, int64_t teacher_layers, int64_t student_layers);
  // Teacher layers the loss needs run (the highest mapped one).
  int64_t teacher_layers_needed() const;
  std::string describe() const;  // "hidden 0<-0 1<-3 ...; attention 0<-2 ..."
};

// The student -> teacher hidden projection: one shared Linear ("fit_dense"), or one per hidden
// state ("fit_denses.N", TinyBERT v2 general checkpoints). Saved beside the student as
// fit_dense.safetensors, not inside its HF weights.
class FitDenseImpl : public torch::nn::Module {
 public:
  FitDenseImpl(int64_t student_hidden, int64_t teacher_hidden, int64_t per_layer = 0);
  at::Tensor forward(const at::Tensor& x, int64_t hidden_index);  // (B, T, Hs) -> (B, T, Ht)
  torch::nn::Linear fit_dense{nullptr};
  torch::nn::ModuleList fit_denses{nullptr};
};
TORCH_MODULE(FitDense);

inline constexpr const char* kFitDenseFile = "fit_dense.safetensors";
// Loads dir/fit_dense.safetensors when present (either layout; shapes checked); returns false,
// leaving a fresh projection, when there is none.
bool load_fit_dense(FitDenseImpl& fit, const std::string& dir);
void save_fit_dense(FitDenseImpl& fit, const std::string& dir);
// A projection for the given shapes, loaded from `dir` when it has one (prints a notice if not).
FitDense make_fit_dense(int64_t student_hidden, int64_t teacher_hidden, const std::string& dir,
                        double init_std);

// Loss weights and options; defaults are the paper's.
struct LossConfig {
  double attention_weight = 1.0;   // attention term
  double hidden_weight = 1.0;      // hidden states, embedding output included
  double prediction_weight = 1.0;  // soft cross-entropy (or MSE for regression)
  double hard_label_weight = 0.0;  // cross-entropy with the gold label (off in the paper)
  double temperature = 1.0;
  bool t2_scaling = false;  // multiply the soft loss by T^2 (Hinton et al.)
  bool regression_to_teacher =
      false;  // regression: MSE to the teacher's output, not the gold label
};

// Attention + hidden losses summed over the mapped layers.
LossTerms intermediate_loss(const model::BertOutput& student, const model::BertOutput& teacher,
                            FitDenseImpl& fit, const LayerMap& map, const LossConfig& cfg);
// Prediction-layer loss of classes, on rows (N, C) (sequences, or labelled tokens): soft
// cross-entropy at the temperature against the teacher's logits, plus the optional hard-label
// cross-entropy with `labels` (N).
LossTerms soft_prediction_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                               const at::Tensor& labels, const LossConfig& cfg);
// Prediction-layer loss of a regression (N, 1): MSE to the teacher's outputs (or to the gold
// values), plus the optional hard-label MSE.
LossTerms regression_prediction_loss(const at::Tensor& student_out, const at::Tensor& teacher_out,
                                     const at::Tensor& labels, const LossConfig& cfg);

}  // namespace tinybert::distill
