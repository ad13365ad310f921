// Linear layers on oneDNN's CPU matmul with the weights laid out once (fp32, or int8 with
// activations quantized per call), for inference.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

namespace tinybert::model {

// What runs after the product inside the same kernel: `residual` adds a tensor of the output's
// shape (BERT's x + sublayer(x) before LayerNorm), `activation` applies gelu (erf), gelu_new (tanh)
// or relu; saves a pass over the output and a LibTorch call each.
struct DnnlEpilogue {
  std::string activation;  // "" or one that fuses()
  bool residual = false;
  // gelu only without AVX-512: with it, row_kernels' gelu after the product is the faster
  static bool fuses(const std::string& activation);
};

// y = x W^T + b on oneDNN's matmul (the brgemm kernels on AVX-512), W reordered once into the
// blocked layout the kernels read; OpenBLAS (what torch::linear calls) packs W again on every call.
// On the AVX-512 VM, TinyBERT4's and BERT-base's fp32 products ran 1.0-1.4x OpenBLAS's speed at
// 128-4096 rows and 1.7-6x at 1-32 rows; the model-level race:
// bench/results/onnx_race_avx512_dnnl.md. Primitives are made per row count and kept.
class DnnlMatmul {
 public:
  // Built with oneDNN (TINYBERT_WITH_DNNL)?
  static bool available();
  // Whether fp32 Linears should run here: available() on a CPU with AVX-512 (where it was measured;
  // on AVX2 OpenBLAS stays).
  static bool fp32_pays();
  // weight (out, in) fp32, bias (out) or undefined; copies what it needs.
  static std::shared_ptr<const DnnlMatmul> fp32(const torch::Tensor& weight,
                                                const torch::Tensor& bias,
                                                const DnnlEpilogue& epilogue = {});
  // weight (out, in) int8, scale (out) fp32 > 0 (w ~ weight * scale), bias (out) or undefined.
  // Each call quantizes x per tensor to uint8 0..kInt8ActivationMax (scale (max - min) / 127 over
  // a range widened to hold 0, zero point round(-min / scale)): the arithmetic `export` writes,
  // except where the bias would overflow oneDNN's bias argument (channels of weight scale below
  // 1e-20 run as zeros; inputs of a range far below the biases' get a floored scale).
  static std::shared_ptr<const DnnlMatmul> int8(const torch::Tensor& weight,
                                                const torch::Tensor& scale,
                                                const torch::Tensor& bias,
                                                const DnnlEpilogue& epilogue = {});
  // (..., in) fp32 on the CPU -> (..., out) fp32; `residual` (..., out) exactly when the
  // epilogue adds one.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual = {}) const;

  struct Impl;
  explicit DnnlMatmul(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tinybert::model
