// Linear layers laid out once for CPU inference: dynamic int8 (int8 weights with one symmetric
// scale per output channel, activations quantized per call, asymmetric, per tensor, 7 bits), or
// fp32 weights packed for oneDNN. int8 runs on oneDNN directly (model/dnnl_matmul.h) where the
// build has it, else on LibTorch's quantized engine.
#pragma once

#include <ATen/native/quantized/PackedParams.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tinybert/model/dnnl_matmul.h"

namespace tinybert::model {

// Activations are quantized to 0..127, not 0..255: on CPUs without VNNI, x86's u8 x s8
// multiply-add (vpmaddubsw) saturates pairs at int16, and 255 * 127 * 2 overflows it; on random
// (64, 312) x (312, 936) products oneDNN's error fell from 0.42-0.84 to 0.06-0.10 with the 7-bit
// range. PyTorch's x86 default (reduce_range) is the same; `export` writes the same arithmetic.
constexpr int64_t kInt8ActivationMax = 127;

// One Linear laid out for inference. int8: what a checkpoint stores (weight, scale) and the
// engine's packing of it. fp32: the module's own weight and bias, packed for oneDNN, used only
// while they are unchanged (see track()).
struct PackedLinear {
  torch::Tensor weight;  // (out, in) int8: w ~ weight * scale; fp32: the module's weight
  torch::Tensor scale;   // (out) fp32, > 0; undefined for fp32
  torch::Tensor bias;    // (out) fp32, or undefined
  c10::intrusive_ptr<LinearPackedParamsBase> packed;  // int8 on LibTorch's quantized engine
  std::shared_ptr<const DnnlMatmul> dnnl;             // oneDNN (int8 or fp32)
  // fp32: the parameters it was packed from, with their storage and version at packing time
  std::vector<torch::Tensor> sources;
  std::vector<std::pair<const void*, int64_t>> stamps;
  DnnlEpilogue epilogue;  // fused after the product (oneDNN only)

  bool defined() const { return static_cast<bool>(packed) || static_cast<bool>(dnnl); }
  bool int8() const { return scale.defined(); }
  bool plain() const { return epilogue.activation.empty() && !epilogue.residual; }
  // Whether forward(x) may run for this x: autograd off; int8 always (CPU); fp32 for fp32 CPU
  // inputs while the weights are the ones packed.
  bool serves(const torch::Tensor& x) const;
  // (..., in) fp32 -> (..., out) fp32 on the CPU: x W^T + b, then the epilogue (with `residual`
  // (..., out) when it adds one).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual = {}) const;
  torch::Tensor dequantized() const;  // (out, in) fp32
  // Records `tensors` as what an fp32 pack was made from: it serves only while none of them has
  // changed (an in-place step bumps the version, .to() or set_data() gives new storage).
  void track(std::vector<torch::Tensor> tensors);
};

// Packs an fp32 Linear's weight (out, in) and bias for oneDNN (DnnlMatmul::fp32_pays()), with
// `epilogue` fused (an activation that does not fuse is left to the module).
PackedLinear pack_fp32(const torch::Tensor& weight, const torch::Tensor& bias,
                       const DnnlEpilogue& epilogue = {});

// `p` with `epilogue` fused into its oneDNN kernel (an activation that does not fuse is left to
// the module); `p` itself when it does not run on oneDNN or already has that epilogue.
PackedLinear with_epilogue(const PackedLinear& p, const DnnlEpilogue& epilogue);

// Quantizes an fp32 weight (out, in) per output channel: scale = max |w| / 127 (1 for a zero row).
PackedLinear quantize_linear(const torch::Tensor& weight, const torch::Tensor& bias);

// Packs stored int8 weights (out, in) and scales (out) or (out, 1); `name` is the checkpoint's
// tensor name for errors (a scale must be finite and positive).
PackedLinear int8_linear(const torch::Tensor& weight, const torch::Tensor& scale,
                         const torch::Tensor& bias, const std::string& name);

// int8 layers' output channels stacked in order (query, key, value -> the fused projection).
PackedLinear concat_int8(const std::vector<const PackedLinear*>& parts);

// The quantized engine int8 layers run on ("ONEDNN", "QNNPACK", ...), selected on first use;
// fails when this LibTorch has none.
std::string int8_engine();

}  // namespace tinybert::model
