// Dynamic int8 linear layers for CPU inference: int8 weights with one symmetric scale per output
// channel, activations quantized per call (asymmetric, per tensor, 7 bits) by LibTorch's quantized
// engine (oneDNN).
#pragma once

#include <ATen/native/quantized/PackedParams.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace tinybert::model {

// Activations are quantized to 0..127, not 0..255: on CPUs without VNNI, x86's u8 x s8
// multiply-add (vpmaddubsw) saturates pairs at int16, and 255 * 127 * 2 overflows it; on random
// (64, 312) x (312, 936) products oneDNN's error fell from 0.42-0.84 to 0.06-0.10 with the 7-bit
// range. PyTorch's x86 default (reduce_range) is the same; `export` writes the same arithmetic.
constexpr int64_t kInt8ActivationMax = 127;

// One Linear in int8: what a checkpoint stores (weight, scale) and the engine's packing of it.
struct Int8Linear {
  torch::Tensor weight;  // (out, in) int8: w ~ weight * scale
  torch::Tensor scale;   // (out) fp32, > 0
  torch::Tensor bias;    // (out) fp32, or undefined
  c10::intrusive_ptr<LinearPackedParamsBase> packed;

  bool defined() const { return static_cast<bool>(packed); }
  // (..., in) fp32 -> (..., out) fp32; on the CPU.
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor dequantized() const;  // (out, in) fp32
};

// Quantizes an fp32 weight (out, in) per output channel: scale = max |w| / 127 (1 for a zero row).
Int8Linear quantize_linear(const torch::Tensor& weight, const torch::Tensor& bias);

// Packs stored int8 weights (out, in) and scales (out) or (out, 1); `name` is the checkpoint's
// tensor name for errors (a scale must be finite and positive).
Int8Linear int8_linear(const torch::Tensor& weight, const torch::Tensor& scale,
                       const torch::Tensor& bias, const std::string& name);

// Output channels stacked in order (query, key, value -> the fused projection).
Int8Linear concat_int8(const std::vector<const Int8Linear*>& parts);

// The quantized engine int8 layers run on ("ONEDNN", "QNNPACK", ...), selected on first use;
// fails when this LibTorch has none.
std::string int8_engine();

}  // namespace tinybert::model
