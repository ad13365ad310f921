// AVX-512 kernels over rows for inference: LayerNorm, GELU, and attention heads gathered dense.
#include "row_kernels.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "tinybert/core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tinybert::model::row_kernels {

#if !defined(__x86_64__)

bool available() {
  return false;
}
void layer_norm(const float*, int64_t, int64_t, const float*, const float*, float, float*) {
  fail("row_kernels::layer_norm needs an x86-64 CPU with AVX-512");
}
void gelu(const float*, int64_t, float*) {
  fail("row_kernels::gelu needs an x86-64 CPU with AVX-512");
}
void gather_heads(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                  float*, int64_t) {
  fail("row_kernels::gather_heads needs an x86-64 CPU with AVX-512");
}

#else

namespace {

// GCC 12's AVX-512 headers fill unused lanes from _mm512_undefined_ps(), which it then reports
// as (maybe) uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// The last n % 16 lanes of a row of n.
inline __mmask16 tail_of(int64_t n) {
  return static_cast<__mmask16>((1u << (n % 16)) - 1);
}

// One row: two passes for mean and variance (as exact as LibTorch's Welford moments here, and
// the row stays in L1), one to write.
__attribute__((target("avx512f"))) void layer_norm_row(const float* x, int64_t n,
                                                       const float* gamma, const float* beta,
                                                       float eps, float* y) {
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = tail_of(n);
  __m512 s0 = _mm512_maskz_loadu_ps(tail, x + full), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= full; i += 32) {  // two chains of adds
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i + 16));
  }
  if (i < full) s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i));
  const float mean_f = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / static_cast<float>(n);
  const __m512 mean = _mm512_set1_ps(mean_f);
  __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, x + full), mean);
  s0 = _mm512_mul_ps(d, d), s1 = _mm512_setzero_ps();
  for (i = 0; i + 32 <= full; i += 32) {
    d = _mm512_sub_ps(_mm512_loadu_ps(x + i), mean);
    s0 = _mm512_fmadd_ps(d, d, s0);
    d = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mean);
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  if (i < full) {
    d = _mm512_sub_ps(_mm512_loadu_ps(x + i), mean);
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  const float var = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / static_cast<float>(n);
  // a variance that overflowed would give beta for the row: NaN instead, as LibTorch
  const __m512 rstd = _mm512_set1_ps(std::isfinite(var) ? 1.f / std::sqrt(var + eps) : NAN);
  for (i = 0; i < full; i += 16) {
    d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), mean), rstd);
    _mm512_storeu_ps(y + i,
                     _mm512_fmadd_ps(d, _mm512_loadu_ps(gamma + i), _mm512_loadu_ps(beta + i)));
  }
  d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + full), mean), rstd);
  _mm512_mask_storeu_ps(y + full, tail,
                        _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(tail, gamma + full),
                                        _mm512_maskz_loadu_ps(tail, beta + full)));
}

// erf(z) / 2 on [k / 4, (k + 1) / 4) for k = 0..15 as a polynomial of degree 6 in u = z - k / 4:
// kErfHalf[i][k] is the coefficient of u^i (Chebyshev fits; largest error 3.4e-8 in float).
alignas(64) constexpr float kErfHalf[7][16] = {
    {-9.00319194e-11f, 0.138163194f, 0.260249943f, 0.355577826f, 0.42135039f, 0.46145007f,
     0.483052582f, 0.493335843f, 0.497661144f, 0.499268651f, 0.49979651f, 0.499949694f,
     0.499988943f, 0.499997854f, 0.499999642f, 0.49999994f},
    {0.564189613f, 0.530007064f, 0.439391255f, 0.321465522f, 0.207553729f, 0.118260562f,
     0.059465155f, 0.0263875052f, 0.0103334952f, 0.00357115944f, 0.00108914112f, 0.000293137826f,
     6.96261195e-05f, 1.45943559e-05f, 2.69966426e-06f, 4.40703445e-07f},
    {-2.27898454e-06f, -0.132502392f, -0.219694421f, -0.241097406f, -0.207552791f, -0.147825778f,
     -0.0891982839f, -0.0461785942f, -0.0206671748f, -0.00803510472f, -0.00272279279f,
     -0.000806080527f, -0.000208853453f, -4.74219742e-05f, -9.44580552e-06f, -1.65186009e-06f},
    {-0.18800813f, -0.154569596f, -0.0732605159f, 0.0133525003f, 0.0691611692f, 0.0837695301f,
     0.0693895146f, 0.0450901054f, 0.024116151f, 0.0108622322f, 0.00417354843f, 0.00137896789f,
     0.000393913971f, 9.76554438e-05f, 2.10693506e-05f, 3.96446421e-06f},
    {-0.000635154371f, 0.0632947236f, 0.0918566883f, 0.0758235157f, 0.0348679163f, -0.00309199141f,
     -0.022452483f, -0.0241838805f, -0.0172778312f, -0.009542129f, -0.00429419987f, -0.00161486445f,
     -0.000514764688f, -0.000140350327f, -3.29309987e-05f, -6.6785542e-06f},
    {0.0601971298f, 0.0413217656f, 0.00190862373f, -0.0294452682f, -0.0362865292f, -0.0235825703f,
     -0.00655032182f, 0.00410790229f, 0.0068889563f, 0.00534109259f, 0.00296034478f, 0.00129296212f,
     0.000463052012f, 0.000138837146f, 3.52895004e-05f, 7.66701487e-06f},
    {-0.0112441806f, -0.0248782504f, -0.0205681976f, -0.00521243177f, 0.00767457439f, 0.0110141505f,
     0.00719826063f, 0.00207481161f, -0.000889133778f, -0.00154773775f, -0.00112285011f,
     -0.000572144578f, -0.000227894663f, -7.4063013e-05f, -2.00796021e-05f, -4.60240108e-06f}};

// 16 values of gelu at once: z = min(|x| / sqrt(2), 4) (erf(4) is 1 in float), the interval's
// coefficients picked by a permute, Horner in u; 1/2 + or - erf(z) / 2 by the sign of x.
__attribute__((target("avx512f"))) inline __m512 gelu16(__m512 x, const __m512 (&c)[7]) {
  const __m512 four = _mm512_set1_ps(4.f), half = _mm512_set1_ps(0.5f);
  const __m512 z =
      _mm512_min_ps(_mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678f)), four);
  const __m512 k = _mm512_min_ps(
      _mm512_roundscale_ps(_mm512_mul_ps(z, four), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
      _mm512_set1_ps(15.f));
  const __m512 u = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.25f), z);
  const __m512i at = _mm512_cvttps_epi32(k);  // NaN: some index; the product with x keeps it
  __m512 p = _mm512_permutexvar_ps(at, c[6]);
  for (int i = 5; i >= 0; --i) p = _mm512_fmadd_ps(p, u, _mm512_permutexvar_ps(at, c[i]));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mul_ps(x, _mm512_mask_sub_ps(_mm512_add_ps(half, p), negative, half, p));
}

__attribute__((target("avx512f"))) void gelu_span(const float* x, int64_t n, float* y) {
  __m512 c[7];
  for (int i = 0; i < 7; ++i) c[i] = _mm512_load_ps(kErfHalf[i]);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu16(_mm512_loadu_ps(x + i), c));
  const __mmask16 tail = tail_of(n - i);
  _mm512_mask_storeu_ps(y + i, tail, gelu16(_mm512_maskz_loadu_ps(tail, x + i), c));
}

// d floats from src to dst, 16 at a time, the rest masked.
__attribute__((target("avx512f"))) inline void copy_row(const float* src, int64_t d, float* dst) {
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  const __mmask16 tail = tail_of(d - i);
  _mm512_mask_storeu_ps(dst + i, tail, _mm512_maskz_loadu_ps(tail, src + i));
}

#pragma GCC diagnostic pop

}  // namespace

bool available() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

void layer_norm(const float* x, int64_t rows, int64_t n, const float* gamma, const float* beta,
                float eps, float* y) {
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) layer_norm_row(x + r * n, n, gamma, beta, eps, y + r * n);
  });
}

void gelu(const float* x, int64_t n, float* y) {
  at::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
    gelu_span(x + begin, end - begin, y + begin);
  });
}

void gather_heads(const float* src, int64_t B, int64_t heads, int64_t T, int64_t d,
                  int64_t stride_b, int64_t stride_h, int64_t stride_t, float* dst,
                  int64_t dst_row) {
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(T * d, 1));
  at::parallel_for(0, B * heads, grain, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const float* from = src + bh / heads * stride_b + bh % heads * stride_h;
      for (int64_t t = 0; t < T; ++t)
        copy_row(from + t * stride_t, d, dst + (bh * T + t) * dst_row);
    }
  });
}

#endif

}  // namespace tinybert::model::row_kernels
