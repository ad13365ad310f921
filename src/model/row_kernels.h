// AVX-512 kernels over rows for inference: LayerNorm, GELU, and attention heads gathered dense.
#pragma once

#include <cstdint>

namespace tinybert::model::row_kernels {

// Whether this CPU runs them (AVX-512F); callers take LibTorch's ops otherwise.
bool available();

// Each of `rows` rows of n floats: y = (x - mean) / sqrt(var + eps) * gamma + beta, the variance
// biased, as torch's layer_norm. x and y may be the same.
void layer_norm(const float* x, int64_t rows, int64_t n, const float* gamma, const float* beta,
                float eps, float* y);

// y = x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2))) for n floats (HF's "gelu"), within 6e-7 of it
// computed in double. x and y may be the same.
void gelu(const float* x, int64_t n, float* y);

// dst (B, heads, T, d) from src with strides (in floats) stride_b, stride_h, stride_t and 1 along
// d; dst's rows `dst_row` floats apart (d: dense), what lies past d in them left as it was.
void gather_heads(const float* src, int64_t B, int64_t heads, int64_t T, int64_t d,
                  int64_t stride_b, int64_t stride_h, int64_t stride_t, float* dst,
                  int64_t dst_row);

}  // namespace tinybert::model::row_kernels
