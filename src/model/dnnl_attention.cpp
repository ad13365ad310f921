// Scaled dot-product attention for inference on oneDNN: q k^T (+ scale, mask), softmax, p v.
#include "tinybert/model/dnnl_attention.h"

#include "tinybert/core/error.h"

#ifdef TINYBERT_WITH_DNNL
#include <ATen/Parallel.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "dnnl_runtime.h"
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

// (B, heads, T, d, has a mask, scale, threads): a oneDNN primitive keeps the thread count it was
// made with, and a shape may come from the caller's thread (all threads) and from single-thread
// workers alike.
using Shape = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, float, int>;

// The three primitives for one shape, and the layouts they were made for.
struct Primitives {
  dnnl::memory::desc q, k, v, scores, mask, out;
  dnnl::matmul qk, pv;
  dnnl::softmax_forward softmax;
  dnnl::memory::desc qk_pad, pv_pad, softmax_pad;  // scratchpads (one buffer: they run in turn)

  explicit Primitives(const Shape& s) {
    const auto [B, heads, T, d, masked, scale, threads] = s;
    q = {{B, heads, T, d}, dt::f32, tag::abcd};
    k = {{B, heads, d, T}, dt::f32, tag::abdc};  // k (B, heads, T, d) read transposed
    v = {{B, heads, T, d}, dt::f32, tag::abcd};
    scores = {{B, heads, T, T}, dt::f32, tag::abcd};
    mask = {{B, 1, 1, T}, dt::f32, tag::abcd};
    out = {{B, heads, T, d}, dt::f32, tag::acbd};  // stored as (B, T, heads, d)
    dnnl::primitive_attr qk_attr, attr;
    for (auto* a : {&qk_attr, &attr}) a->set_scratchpad_mode(dnnl::scratchpad_mode::user);
    qk_attr.set_output_scales(0, {scale});
    if (masked) {
      dnnl::post_ops ops;
      ops.append_binary(dnnl::algorithm::binary_add, mask);
      qk_attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc qk_pd({q, k, scores}, qk_attr, cpu_engine());
    const dnnl::matmul::primitive_desc pv_pd({scores, v, out}, attr, cpu_engine());
    const dnnl::softmax_forward::primitive_desc sm_pd(
        {dnnl::prop_kind::forward_inference, scores, 3}, attr, cpu_engine());
    qk = dnnl::matmul(qk_pd), pv = dnnl::matmul(pv_pd), softmax = dnnl::softmax_forward(sm_pd);
    qk_pad = qk_pd.scratchpad_desc(), pv_pad = pv_pd.scratchpad_desc();
    softmax_pad = sm_pd.scratchpad_desc();
  }
  size_t scratch_bytes() const {
    return std::max({qk_pad.get_size(), pv_pad.get_size(), softmax_pad.get_size()});
  }
};

std::shared_ptr<const Primitives> primitives_for(const Shape& shape) {
  static std::mutex mutex;
  static std::map<Shape, std::shared_ptr<const Primitives> > made;
  std::lock_guard lock(mutex);
  if (auto it = made.find(shape); it != made.end()) return it->second;
  if (made.size() >= 256) made.clear();  // many shapes seen: oneDNN's own cache remains
  return made.emplace(shape, std::make_shared<const Primitives>(shape)).first->second;
}

// Bytes of scores per thread computed at once (a core's L2 holds them between the three steps).
constexpr int64_t kScoresBytes = 1 << 20;

// The three steps on one chunk of rows: q, k, v (n, heads, T, d), mask (n, 1, 1, T) or null,
// scores (n, heads, T, T) -> out (n, T, heads * d).
void run_chunk(const std::shared_ptr<const Primitives>& p, float* q, float* k, float* v,
               float* mask, float* scores, float* out) {
  auto& eng = cpu_engine();
  auto& stream = thread_stream();
  void* scratch = scratch_bytes(p->scratch_bytes());
  dnnl::memory ms(p->scores, eng, scores);
  std::unordered_map<int, dnnl::memory> qk_args{
      {DNNL_ARG_SRC, dnnl::memory(p->q, eng, q)},
      {DNNL_ARG_WEIGHTS, dnnl::memory(p->k, eng, k)},
      {DNNL_ARG_DST, ms},
      {DNNL_ARG_SCRATCHPAD, dnnl::memory(p->qk_pad, eng, scratch)}};
  if (mask)
    qk_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = dnnl::memory(p->mask, eng, mask);
  p->qk.execute(stream, qk_args);
  p->softmax.execute(stream, {{DNNL_ARG_SRC, ms},
                              {DNNL_ARG_DST, ms},
                              {DNNL_ARG_SCRATCHPAD, dnnl::memory(p->softmax_pad, eng, scratch)}});
  p->pv.execute(stream, {{DNNL_ARG_SRC, ms},
                         {DNNL_ARG_WEIGHTS, dnnl::memory(p->v, eng, v)},
                         {DNNL_ARG_DST, dnnl::memory(p->out, eng, out)},
                         {DNNL_ARG_SCRATCHPAD, dnnl::memory(p->pv_pad, eng, scratch)}});
  stream.wait();
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
  return B > 0 && T > 0;
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
  // Rows in turn, as many at once as keep each thread's share of their scores in its core's L2 (a
  // TinyBERT4 layer at 128 tokens: one row's 12 heads, 768 KiB): 16 rows at once on one thread
  // wrote 12 MiB of scores to memory and read them back twice.
  const int threads = at::get_num_threads();
  const int64_t per_row = heads * T * T * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = std::clamp<int64_t>(kScoresBytes * threads / per_row, 1, B);
  const auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();    // (B, heads, T, d)
  const auto mask = mask_bias.defined() ? mask_bias.contiguous() : mask_bias;  // (B, 1, 1, T)
  auto scores = torch::empty({chunk, heads, T, T}, q.options());  // (chunk, heads, T, T)
  auto out = torch::empty({B, T, heads * d}, q.options());        // (B, T, H)
  auto* const scores_at = scores.data_ptr<float>();
  for (int64_t b0 = 0; b0 < B; b0 += chunk) {
    const int64_t n = std::min(chunk, B - b0), at = b0 * heads * T * d;
    run_chunk(primitives_for({n, heads, T, d, mask.defined(), static_cast<float>(scale), threads}),
              qc.data_ptr<float>() + at, kc.data_ptr<float>() + at, vc.data_ptr<float>() + at,
              mask.defined() ? mask.data_ptr<float>() + b0 * T : nullptr, scores_at,
              out.data_ptr<float>() + at);
  }
  return out;
}

#endif

}  // namespace tinybert::model
