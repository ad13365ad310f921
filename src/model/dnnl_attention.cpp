// Scaled dot-product attention for inference on oneDNN: q k^T (+ scale), mask + softmax, p v.
#include "tinybert/model/dnnl_attention.h"

#include "tinybert/core/error.h"

#ifdef TINYBERT_WITH_DNNL
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "dnnl_runtime.h"
#include "row_kernels.h"
#include "tinybert/model/dnnl_matmul.h"
#endif

namespace tinybert::model {

#ifndef TINYBERT_WITH_DNNL

bool DnnlAttention::serves(const torch::Tensor&, const torch::Tensor&) {
  return false;
}
torch::Tensor DnnlAttention::forward(const torch::Tensor&, const torch::Tensor&,
                                     const torch::Tensor&, const torch::Tensor&, double) {
  fail("this build has no oneDNN");
}

#else

namespace {

using namespace dnnl_runtime;  // dt, tag, cpu_engine, thread_stream, scratch

// (rows of a chunk, heads, T, d, scale, threads): a oneDNN primitive keeps the thread count it was
// made with, and a shape may come from the caller's thread (all threads) and from single-thread
// workers alike.
using Shape = std::tuple<int64_t, int64_t, int64_t, int64_t, float, int>;

// v and the product p v have their head size padded to a multiple of 16 (`wide`): brgemm's p v
// with 26 columns took 1.4-1.8x the time it took with 32 (one core, 1 x 12 x 128 and 16 x 12 x 32).
int64_t wide_of(int64_t d) {
  return (d + 15) / 16 * 16;
}

// The two products for one shape, and the layouts they were made for.
struct Primitives {
  dnnl::memory::desc q, k, v, scores, out;
  dnnl::matmul qk, pv;
  dnnl::memory::desc qk_pad, pv_pad;  // scratchpads (one buffer: they run in turn)

  explicit Primitives(const Shape& s) {
    const auto [B, heads, T, d, scale, threads] = s;
    q = {{B, heads, T, d}, dt::f32, tag::abcd};
    k = {{B, heads, d, T}, dt::f32, tag::abdc};  // k (B, heads, T, d) read transposed
    v = {{B, heads, T, wide_of(d)}, dt::f32, tag::abcd};
    scores = {{B, heads, T, T}, dt::f32, tag::abcd};
    out = {{B, heads, T, wide_of(d)}, dt::f32, tag::acbd};  // stored as (B, T, heads, wide)
    dnnl::primitive_attr qk_attr, attr;
    for (auto* a : {&qk_attr, &attr}) a->set_scratchpad_mode(dnnl::scratchpad_mode::user);
    qk_attr.set_output_scales(0, {scale});
    const dnnl::matmul::primitive_desc qk_pd({q, k, scores}, qk_attr, cpu_engine());
    const dnnl::matmul::primitive_desc pv_pd({scores, v, out}, attr, cpu_engine());
    qk = dnnl::matmul(qk_pd), pv = dnnl::matmul(pv_pd);
    qk_pad = qk_pd.scratchpad_desc(), pv_pad = pv_pd.scratchpad_desc();
  }
  size_t scratch_bytes() const { return std::max(qk_pad.get_size(), pv_pad.get_size()); }
};

std::shared_ptr<const Primitives> primitives_for(const Shape& shape) {
  static std::mutex mutex;
  static std::map<Shape, std::shared_ptr<const Primitives> > made;
  std::lock_guard lock(mutex);
  if (auto it = made.find(shape); it != made.end()) return it->second;
  if (made.size() >= 256) made.clear();  // many shapes seen: oneDNN's own cache remains
  return made.emplace(shape, std::make_shared<const Primitives>(shape)).first->second;
}

// GCC 12's AVX-512 headers fill unused lanes from _mm512_undefined_ps(), which it then reports
// as (maybe) uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// exp(x) for x <= 0 (a score minus its row's maximum): 2^k p(r) with r = x - k ln 2, |r| <= ln 2 /
// 2, and p exp's Taylor polynomial of degree 7 (truncation error below 6e-9 there). NaN stays NaN.
__attribute__((target("avx512f"))) inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-87.f), x);  // exp(-87) ~ 1.6e-38, still normal
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);  // ln 2, high bits
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.42860682030941723e-6f), r);    // and the rest
  __m512 p = _mm512_set1_ps(1.f / 5040);
  for (const float c : {1.f / 720, 1.f / 120, 1.f / 24, 1.f / 6, 0.5f, 1.f, 1.f})
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  return _mm512_scalef_ps(p, k);
}

// Scores row[i..i + 16) (of them the `lanes`, `fill` in the others), plus mask[i..i + 16) when
// Masked.
template <bool Masked>
__attribute__((target("avx512f"))) inline __m512 scores_at(const float* row, const float* mask,
                                                           int64_t i, __mmask16 lanes,
                                                           __m512 fill) {
  const __m512 v = _mm512_mask_loadu_ps(fill, lanes, row + i);
  if constexpr (Masked)
    return _mm512_mask_add_ps(fill, lanes, v, _mm512_maskz_loadu_ps(lanes, mask + i));
  return v;
}

// Softmax of R rows of n floats at once (independent chains the core overlaps), in place, after
// adding the row `mask` (n floats) to each when Masked.
template <int R, bool Masked>
__attribute__((target("avx512f"))) inline void softmax_group(float* x, int64_t n,
                                                             const float* mask) {
  const __m512 lowest = _mm512_set1_ps(-INFINITY);
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1);  // the last n % 16
  const __m512 zero = _mm512_setzero_ps();
  __m512 top[R], sum[R], scale[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) top[r] = scores_at<Masked>(x + r * n, mask, full, tail, lowest);
  for (int64_t i = 0; i < full; i += 16)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      top[r] = _mm512_max_ps(top[r], scores_at<Masked>(x + r * n, mask, i, 0xffff, zero));
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    top[r] = _mm512_set1_ps(_mm512_reduce_max_ps(top[r]));
    const __m512 e = exp_nonpositive(
        _mm512_sub_ps(scores_at<Masked>(x + r * n, mask, full, tail, zero), top[r]));
    _mm512_mask_storeu_ps(x + r * n + full, tail, e);
    sum[r] = _mm512_maskz_mov_ps(tail, e);
  }
  for (int64_t i = 0; i < full; i += 16)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 e = exp_nonpositive(
          _mm512_sub_ps(scores_at<Masked>(x + r * n, mask, i, 0xffff, zero), top[r]));
      _mm512_storeu_ps(x + r * n + i, e);
      sum[r] = _mm512_add_ps(sum[r], e);
    }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    scale[r] = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum[r]));
    _mm512_mask_storeu_ps(x + r * n + full, tail,
                          _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + r * n + full), scale[r]));
  }
  for (int64_t i = 0; i < full; i += 16)
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      _mm512_storeu_ps(x + r * n + i, _mm512_mul_ps(_mm512_loadu_ps(x + r * n + i), scale[r]));
}

// Softmax of rows [begin, end) of `scores` (rows of n floats), in place, 8 rows at a time; with
// `mask`, row r first adds mask row r / per_mask. oneDNN's softmax took 67-88 us for one TinyBERT4
// layer's 12 x 128 rows of 128 and 110-130 us for 16 x 12 x 32 rows of 32 on one core here; this
// 40-44 and 65 us (/tmp probe, not kept). The mask as a binary post-op of q k^T cost more than the
// product itself (16 x 12 x 32 x 32 scores: 170 against 72 us, one core); here it costs a load.
template <bool Masked>
__attribute__((target("avx512f"))) void softmax_rows(float* scores, int64_t begin, int64_t end,
                                                     int64_t n, const float* mask,
                                                     int64_t per_mask) {
  for (int64_t r = begin; r < end;) {
    const int64_t group = r / per_mask, stop = std::min(end, (group + 1) * per_mask);
    const float* m = Masked ? mask + group * n : nullptr;
    for (; r + 8 <= stop; r += 8) softmax_group<8, Masked>(scores + r * n, n, m);
    for (; r < stop; ++r) softmax_group<1, Masked>(scores + r * n, n, m);
  }
}

// Short sequences (T and d at most 64) take one (sequence, head) at a time through the kernel
// below, reading q, k and v where the fused QKV projection left them and writing the context
// straight into (B, T, H): no gathers (copy_row had 4.9% of int8 time at batch 32 in perf), no
// padding, no scores in memory. build/bench/bench_kernels' attention of 16 x 32 tokens: 504-508
// -> 440 us on one core; TinyBERT4 int8 at seq 32, batch 32, median of 6 interleaved runs: 16.7
// -> 14.6 ms.
constexpr int64_t kShortMax = 64;

// One (sequence, head): q, k, v rows of d floats q_row, k_row, v_row floats apart; kt (d, 16 *
// NB) k transposed, zeros past T; mask (16 * NB): the mask row, -inf past T; p (4, 16 * NB) work;
// out rows out_row floats apart.
struct Head {
  const float *q, *k, *v;
  int64_t q_row, k_row, v_row, T, d;
  float scale;
  float *kt, *mask, *p, *out;
  int64_t out_row;
};

// acc[r][b] = sum over i < n of a[r][i] * y_i[16 b, 16 b + 16), y_i = y + i * y_row, for 4 rows r
// (of 4 by N vectors, the lanes of the last one outside `last` zero): the two products of one head.
template <int N>
__attribute__((target("avx512f"))) inline void outer4(__m512 (&acc)[4][N], const float* const* a,
                                                      const float* y, int64_t y_row, int64_t n,
                                                      __mmask16 last) {
#pragma GCC unroll 16
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 16
    for (int b = 0; b < N; ++b) acc[r][b] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; ++i) {
    __m512 row[N];
#pragma GCC unroll 4
    for (int b = 0; b < N; ++b)
      row[b] = _mm512_maskz_loadu_ps(b + 1 < N ? 0xffff : last, y + i * y_row + 16 * b);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m512 x = _mm512_set1_ps(a[r][i]);
#pragma GCC unroll 16
      for (int b = 0; b < N; ++b) acc[r][b] = _mm512_fmadd_ps(x, row[b], acc[r][b]);
    }
  }
}

// softmax(q k^T * scale + mask) of the 4 query rows `rows` into h.p (4, 16 * NB).
template <int NB>
__attribute__((target("avx512f"))) inline void probs4(const Head& h, const int64_t* rows) {
  __m512 acc[4][NB];
  const float* q[4] = {h.q + rows[0] * h.q_row, h.q + rows[1] * h.q_row, h.q + rows[2] * h.q_row,
                       h.q + rows[3] * h.q_row};
  outer4<NB>(acc, q, h.kt, 16 * NB, h.d, 0xffff);
  const __m512 scale = _mm512_set1_ps(h.scale);
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 16
    for (int b = 0; b < NB; ++b)
      _mm512_storeu_ps(h.p + (r * NB + b) * 16, _mm512_mul_ps(acc[r][b], scale));
  softmax_group<4, true>(h.p, 16 * NB, h.mask);  // in L1: the mask is -inf past T
}

// out rows `rows` = h.p (4 rows) v, d columns 16 at a time; `distinct` of the rows written.
template <int DB>
__attribute__((target("avx512f"))) inline void context4(const Head& h, int NB, const int64_t* rows,
                                                        int distinct) {
  const __mmask16 last = static_cast<__mmask16>((1u << (h.d - 16 * (DB - 1))) - 1);
  __m512 acc[4][DB];
  const float* p[4] = {h.p, h.p + 16 * NB, h.p + 32 * NB, h.p + 48 * NB};
  outer4<DB>(acc, p, h.v, h.v_row, h.T, last);
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)  // a constant bound: acc stays in registers
#pragma GCC unroll 16
    for (int b = 0; b < DB; ++b)
      if (r < distinct)
        _mm512_mask_storeu_ps(h.out + rows[r] * h.out_row + 16 * b, b + 1 < DB ? 0xffff : last,
                              acc[r][b]);
}

// All query rows of one (sequence, head), 4 at a time (the last group repeats row T - 1).
template <int NB, int DB>
__attribute__((target("avx512f"))) void attend_head(const Head& h) {
  for (int64_t j = 0; j < h.T; ++j)  // k (T, d) -> kt (d, 16 * NB)
    for (int64_t c = 0; c < h.d; ++c) h.kt[c * 16 * NB + j] = h.k[j * h.k_row + c];
  for (int64_t i = 0; i < h.T; i += 4) {
    const int64_t rows[4] = {i, std::min(i + 1, h.T - 1), std::min(i + 2, h.T - 1),
                             std::min(i + 3, h.T - 1)};
    probs4<NB>(h, rows);
    context4<DB>(h, NB, rows, static_cast<int>(std::min<int64_t>(4, h.T - i)));
  }
}

using HeadKernel = void (*)(const Head&);

template <int NB>
constexpr std::array<HeadKernel, 4> head_kernels_of() {
  return {attend_head<NB, 1>, attend_head<NB, 2>, attend_head<NB, 3>, attend_head<NB, 4>};
}

// [keys / 16 - 1][d / 16 - 1], both rounded up
constexpr std::array<std::array<HeadKernel, 4>, 4> kHeadKernels = {
    head_kernels_of<1>(), head_kernels_of<2>(), head_kernels_of<3>(), head_kernels_of<4>()};

#pragma GCC diagnostic pop

// Bytes of scores and dense q, k, v per thread taken at once (a core's L2 holds them between the
// steps).
constexpr int64_t kScoresBytes = 1 << 20;

// The three steps on one chunk of rows: q, k (n, heads, T, d), v (n, heads, T, wide), mask (n, 1,
// 1, T) or null, scores (n, heads, T, T) -> out (n, T, heads, wide).
void run_chunk(const std::shared_ptr<const Primitives>& p, const float* q, const float* k,
               const float* v, const float* mask, float* scores, float* out) {
  auto& eng = cpu_engine();
  auto& stream = thread_stream();
  void* scratch = scratch_bytes(p->scratch_bytes());
  dnnl::memory ms(p->scores, eng, scores);
  std::unordered_map<int, dnnl::memory> qk_args{
      {DNNL_ARG_SRC, dnnl::memory(p->q, eng, const_cast<float*>(q))},  // read only
      {DNNL_ARG_WEIGHTS, dnnl::memory(p->k, eng, const_cast<float*>(k))},
      {DNNL_ARG_DST, ms},
      {DNNL_ARG_SCRATCHPAD, dnnl::memory(p->qk_pad, eng, scratch)}};
  p->qk.execute(stream, qk_args);
  stream.wait();
  const auto& dims = p->scores.dims();  // (n, heads, T, T)
  const int64_t T = dims[3], per_mask = dims[1] * T;
  at::parallel_for(0, dims[0] * per_mask, 256, [&](int64_t begin, int64_t end) {
    if (mask)
      softmax_rows<true>(scores, begin, end, T, mask, per_mask);
    else
      softmax_rows<false>(scores, begin, end, T, nullptr, per_mask);
  });
  p->pv.execute(stream, {{DNNL_ARG_SRC, ms},
                         {DNNL_ARG_WEIGHTS, dnnl::memory(p->v, eng, const_cast<float*>(v))},
                         {DNNL_ARG_DST, dnnl::memory(p->out, eng, out)},
                         {DNNL_ARG_SCRATCHPAD, dnnl::memory(p->pv_pad, eng, scratch)}});
  stream.wait();
}

// Rows [b0, b0 + n) of t (B, heads, T, d) as dense rows of `row` floats (d and zeros after): t's
// own memory if it is that, else copied into `buffer` (n, heads, T, row), whose padding the caller
// zeroed. The fused QKV projection's q, k and v are strided views of one (B, T, 3H) tensor, and
// oneDNN's brgemm kernels read only dense operands (its gemm:jit ones took the strided views at
// 2.2x the time).
const float* dense_rows(const torch::Tensor& t, int64_t b0, int64_t n, int64_t row, float* buffer) {
  const int64_t heads = t.size(1), T = t.size(2), d = t.size(3);
  if (t.is_contiguous() && row == d) return t.data_ptr<float>() + b0 * t.stride(0);
  const auto rows = t.narrow(0, b0, n);
  if (t.stride(3) == 1)
    row_kernels::gather_heads(rows.data_ptr<float>(), n, heads, T, d, t.stride(0), t.stride(1),
                              t.stride(2), buffer, row);
  else
    torch::from_blob(buffer, rows.sizes(), {heads * T * row, T * row, row, 1}, t.options())
        .copy_(rows);
  return buffer;
}

// Whether q, k, v (B, heads, T, d) take the short-sequence kernel: T and d at most kShortMax, d
// dense.
bool short_enough(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  return q.size(2) <= kShortMax && q.size(3) <= kShortMax && q.stride(3) == 1 && k.stride(3) == 1 &&
         v.stride(3) == 1;
}

// The attention of short sequences, one (sequence, head) per call of the kernel: q, k, v (B,
// heads, T, d), mask (B, 1, 1, T) contiguous or undefined -> out (B, T, heads * d).
void attend_short(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                  const torch::Tensor& mask, float scale, torch::Tensor& out) {
  const int64_t heads = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t NB = (T + 15) / 16, DB = (d + 15) / 16, keys = 16 * NB;
  const HeadKernel kernel = kHeadKernels[NB - 1][DB - 1];
  const float *pq = q.data_ptr<float>(), *pk = k.data_ptr<float>(), *pv = v.data_ptr<float>();
  const float* pm = mask.defined() ? mask.data_ptr<float>() : nullptr;
  float* po = out.data_ptr<float>();
  // grain 4: one sequence's 12 heads still spread over the threads at batch 1
  at::parallel_for(0, q.size(0) * heads, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> work(static_cast<size_t>((d + 5) * keys), 0.f);  // kt, mask, p (4 rows)
    Head h{};
    h.q_row = q.stride(2), h.k_row = k.stride(2), h.v_row = v.stride(2);
    h.T = T, h.d = d, h.scale = scale, h.out_row = heads * d;
    h.kt = work.data(), h.mask = work.data() + d * keys, h.p = work.data() + (d + 1) * keys;
    for (int64_t j = T; j < keys; ++j) h.mask[j] = -INFINITY;  // zeros before T without a mask
    const auto at = [&](const float* p, const torch::Tensor& t, int64_t bh) {
      return p + bh / heads * t.stride(0) + bh % heads * t.stride(1);
    };
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / heads, head = bh % heads;
      h.q = at(pq, q, bh), h.k = at(pk, k, bh), h.v = at(pv, v, bh);
      h.out = po + b * T * heads * d + head * d;
      if (pm && (bh == begin || head == 0)) std::copy(pm + b * T, pm + (b + 1) * T, h.mask);
      kernel(h);
    }
  });
}

}  // namespace

bool DnnlAttention::serves(const torch::Tensor& q, const torch::Tensor& mask_bias) {
  if (!DnnlMatmul::fp32_pays() || q.dim() != 4 || !q.device().is_cpu() ||
      q.scalar_type() != torch::kFloat)
    return false;
  const int64_t B = q.size(0), T = q.size(2);
  if (mask_bias.defined() &&
      (mask_bias.sizes() != torch::IntArrayRef{B, 1, 1, T} || !mask_bias.device().is_cpu() ||
       mask_bias.scalar_type() != torch::kFloat))
    return false;
  return B > 0 && T > 0 && q.size(1) > 0 && q.size(3) > 0;
}

torch::Tensor DnnlAttention::forward(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, const torch::Tensor& mask_bias,
                                     double scale) {
  const int64_t B = q.size(0), heads = q.size(1), T = q.size(2), d = q.size(3);
  if (!serves(q, mask_bias))
    fail("DnnlAttention: q ", q.sizes(), " ", q.dtype(), " with mask ",
         mask_bias.defined() ? mask_bias.sizes() : torch::IntArrayRef{},
         " is not what it serves (see serves())");
  for (const auto* t : {&k, &v})
    if (t->sizes() != q.sizes() || t->dtype() != q.dtype() || t->device() != q.device())
      fail("DnnlAttention: q ", q.sizes(), ", k ", k.sizes(), " and v ", v.sizes(),
           " must be the same (B, heads, T, d) fp32 CPU tensors");
  const auto mask = mask_bias.defined() ? mask_bias.contiguous() : mask_bias;  // (B, 1, 1, T)
  if (short_enough(q, k, v)) {
    auto out = torch::empty({B, T, heads * d}, q.options());  // (B, T, H)
    attend_short(q, k, v, mask, static_cast<float>(scale), out);
    return out;
  }
  // Rows in turn, as many at once as keep each thread's share of their scores and dense q, k, v
  // in its core's L2 (a TinyBERT4 layer at 128 tokens: one row's 12 heads, 768 + 480 KiB): 16
  // rows at once on one thread wrote 12 MiB of scores to memory and read them back twice, and the
  // q, k, v copies of 16 rows of 32 tokens (1.9 MiB) took 2.9% of int8 time at batch 32 in perf.
  const int threads = at::get_num_threads();
  const int64_t wide = wide_of(d);
  const int64_t per_row = heads * T * (T + 2 * d + 2 * wide) * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = std::clamp<int64_t>(kScoresBytes * threads / per_row, 1, B);
  auto scores = torch::empty({chunk, heads, T, T}, q.options());    // (chunk, heads, T, T)
  auto dense = torch::empty({2, chunk, heads, T, d}, q.options());  // q, k of a chunk
  auto dense_v = torch::empty({chunk, heads, T, wide}, q.options());
  dense_v.narrow(3, d, wide - d).zero_();  // the padding; the gathers write only the first d
  auto out = torch::empty({B, T, heads * d}, q.options());  // (B, T, H)
  auto wide_out = wide == d ? out : torch::empty({chunk, T, heads, wide}, q.options());
  auto* const scores_at = scores.data_ptr<float>();
  for (int64_t b0 = 0; b0 < B; b0 += chunk) {
    const int64_t n = std::min(chunk, B - b0), at = b0 * heads * T * d;
    run_chunk(primitives_for({n, heads, T, d, static_cast<float>(scale), threads}),
              dense_rows(q, b0, n, d, dense[0].data_ptr<float>()),
              dense_rows(k, b0, n, d, dense[1].data_ptr<float>()),
              dense_rows(v, b0, n, wide, dense_v.data_ptr<float>()),
              mask.defined() ? mask.data_ptr<float>() + b0 * T : nullptr, scores_at,
              wide == d ? out.data_ptr<float>() + at : wide_out.data_ptr<float>());
    if (wide != d)  // (n * T * heads, wide) -> (n * T * heads, d)
      row_kernels::gather_heads(wide_out.data_ptr<float>(), n * T, heads, 1, d, heads * wide, wide,
                                0, out.data_ptr<float>() + at, d);
  }
  return out;
}

#endif

}  // namespace tinybert::model
