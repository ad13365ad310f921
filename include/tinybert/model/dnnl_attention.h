// Scaled dot-product attention for inference on oneDNN's CPU kernels, or ours for short sequences.
#pragma once

#include <torch/types.h>

namespace tinybert::model {

// softmax(q k^T * scale + mask) v with both products on oneDNN's brgemm kernels (LibTorch's
// batched products on OpenBLAS pack their operands again on every call), the scale inside the
// first product, mask and softmax in place (AVX-512, 8 rows of scores at a time), the result
// written in (B, T, H) order (no transpose; v and the result padded to 16-column multiples, then
// narrowed), and rows taken in chunks whose scores and dense q, k, v stay in L2. One TinyBERT4
// layer, 16 rows of 128 tokens on one thread: 12.8 ms on LibTorch, 5.9 ms with oneDNN's softmax
// and all rows at once. The chunks then took q k^T + p v from 5.7 to 3.7
// ms per 16 rows and layer (oneDNN's verbose timings, batch 32 on 2 workers), and the softmax
// here one sequence's 12 x 128 rows of 128 from 67-88 to 40-44 us (one core). Primitives are made
// per shape and thread count, and kept. Sequences of at most 64 tokens with heads of at most 64
// take our own AVX-512 kernel instead, one (sequence, head) at a time: q, k, v read where they lie,
// scores kept in registers, the context written straight into (B, T, H).
struct DnnlAttention {
  // Whether forward() takes these: built with oneDNN, a CPU with AVX-512 (measured there), fp32
  // CPU tensors, mask_bias (B, 1, 1, T) or undefined, no dimension of q empty.
  static bool serves(const torch::Tensor& q, const torch::Tensor& mask_bias);
  // q, k, v (B, heads, T, d); mask_bias (B, 1, 1, T) added to the scores, or undefined
  // -> (B, T, heads * d)
  static torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& mask_bias,
                               double scale);
};

}  // namespace tinybert::model
