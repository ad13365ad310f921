// oneDNN matmul for inference Linears: weights reordered once, primitives per row count.
#include "tinybert/model/dnnl_matmul.h"

#include "tinybert/core/error.h"

#ifdef TINYBERT_WITH_DNNL
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "dnnl_runtime.h"
#include "row_kernels.h"
#include "tinybert/model/packed_linear.h"
#endif

namespace tinybert::model {

#ifndef TINYBERT_WITH_DNNL

struct DnnlMatmul::Impl {};
bool DnnlMatmul::available() {
  return false;
}
bool DnnlMatmul::fp32_pays() {
  return false;
}
std::shared_ptr<const DnnlMatmul> DnnlMatmul::fp32(const torch::Tensor&, const torch::Tensor&,
                                                   const DnnlEpilogue&) {
  fail("this build has no oneDNN (apt install libdnnl-dev, then rebuild)");
}
std::shared_ptr<const DnnlMatmul> DnnlMatmul::int8(const torch::Tensor&, const torch::Tensor&,
                                                   const torch::Tensor&, const DnnlEpilogue&) {
  fail("this build has no oneDNN (apt install libdnnl-dev, then rebuild)");
}
torch::Tensor DnnlMatmul::forward(const torch::Tensor&, const torch::Tensor&) const {
  fail("this build has no oneDNN");
}

#else

namespace {

using namespace dnnl_runtime;  // dt, tag, cpu_engine, thread_stream, scratch

// Smallest and largest of x[0..n), widened to hold 0 (what the quantization range must cover);
// false when x holds a NaN or an infinity.
__attribute__((target_clones("avx512f", "avx2", "default"))) bool range_of(
    const float* __restrict x, int64_t n, float* lo_out, float* hi_out) {
  float lo = 0, hi = 0, poison = 0;  // x * 0 is NaN exactly for NaN and infinities
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(+ : poison)
  for (int64_t i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    poison += x[i] * 0.f;
  }
  *lo_out = lo, *hi_out = hi;
  return poison == 0.f;
}

// q = saturate(round_half_even(x / scale) + zero) to 0..255, as ONNX's QuantizeLinear (|x| /
// scale stays below 2^22 for x within the range the scale came from, where the 1.5 * 2^23 sum
// rounds exactly).
__attribute__((target_clones("avx2", "default"))) void quantize_loop(const float* __restrict x,
                                                                     int64_t n, float scale,
                                                                     float zero,
                                                                     uint8_t* __restrict q) {
  constexpr float magic = 12582912.f;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] / scale + magic) - magic + zero;
    v = v < 0.f ? 0.f : v;
    v = v > 255.f ? 255.f : v;
    q[i] = static_cast<uint8_t>(static_cast<int32_t>(v));
  }
}

// GCC 12's AVX-512 headers fill unused lanes from _mm512_undefined_ps(), which it then reports
// as (maybe) uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// The same, 16 values at a time (GCC's vectorisation of the loop above, 256-bit compare-and-mask
// code, took 5% of int8 batch-1 time in perf).
__attribute__((target("avx512f"))) void quantize_avx512(const float* __restrict x, int64_t n,
                                                        float scale, float zero,
                                                        uint8_t* __restrict q) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zero), lo = _mm512_setzero_ps(),
               hi = _mm512_set1_ps(255.f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(x + i), s),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, z), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i),
                     _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(v)));
  }
  quantize_loop(x + i, n - i, scale, zero, q + i);
}

#pragma GCC diagnostic pop

void quantize_to(const float* x, int64_t n, float scale, float zero, uint8_t* q) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512)
    quantize_avx512(x, n, scale, zero, q);
  else
    quantize_loop(x, n, scale, zero, q);
}

}  // namespace

struct DnnlMatmul::Impl {
  bool int8 = false;
  int64_t in = 0, out = 0;
  dnnl::memory::desc weight_desc;  // the blocked layout chosen once
  dnnl::memory weights;
  torch::Tensor bias;   // (1, out) fp32 (zeros without a bias)
  torch::Tensor scale;  // (1, out) fp32 scales of the int8 weights
  // int8: bias / scale (out floats), of which each call's bias argument is bias_per_scale /
  // x_scale, and the smallest x_scale that keeps that argument and the sums finite
  std::vector<float> bias_per_scale;
  float min_input_scale = 0;
  DnnlEpilogue epilogue;
  mutable std::mutex mutex;
  struct Prepared {
    dnnl::matmul primitive;
    dnnl::memory::desc scratch;  // its scratchpad (user mode)
  };
  // Primitives per (row count, threads): a primitive keeps the thread count it was made with, and
  // one row count may come from the caller's thread and from single-thread workers alike.
  mutable std::map<std::pair<int64_t, int>, Prepared> by_rows;

  // Post-op arguments: int8's input scale comes first, then the residual.
  int residual_post_op() const { return int8 ? 1 : 0; }

  dnnl::matmul::primitive_desc describe(int64_t rows, const dnnl::memory::desc& weights) const {
    const dnnl::memory::desc src({rows, in}, int8 ? dt::u8 : dt::f32, tag::ab),
        dst({rows, out}, dt::f32, tag::ab), row({1, out}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    if (int8) {
      // oneDNN 2.6 computes weight_scale (out) * (sum + bias): the weight scales are fixed here,
      // the bias argument is bias / (weight_scale * x_scale) and a scalar post-op multiplies by
      // x_scale: 1.06-1.27x faster than x_scale * weight_scale and the bias as two (1, out)
      // binary post-ops at TinyBERT4's shapes, within 2-8% of no rescaling at all (512 rows on
      // one core, build/bench/bench_int8_epilogue). Run-time output scales take gemm:jit, not
      // brgemm (0.93 against 0.88 ms for 312 -> 1200).
      attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
      attr.set_output_scales(
          2, std::vector<float>(scale.data_ptr<float>(), scale.data_ptr<float>() + out));
      ops.append_binary(dnnl::algorithm::binary_mul, {{1, 1}, dt::f32, tag::ab});  // * x_scale
    }
    if (epilogue.residual) ops.append_binary(dnnl::algorithm::binary_add, dst);
    if (epilogue.activation == "gelu")
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    else if (epilogue.activation == "gelu_new")
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
    else if (epilogue.activation == "relu")
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
    return {dnnl::matmul::desc(src, weights, row, dst), attr, cpu_engine()};
  }

  Prepared primitive(int64_t rows) const {
    const std::pair key{rows, at::get_num_threads()};
    std::lock_guard lock(mutex);
    if (auto it = by_rows.find(key); it != by_rows.end()) return it->second;
    if (by_rows.size() >= 256) by_rows.clear();  // many lengths seen: oneDNN's own cache remains
    const auto pd = describe(rows, weight_desc);
    return by_rows.emplace(key, Prepared{dnnl::matmul(pd), pd.scratchpad_desc()}).first->second;
  }
};

bool DnnlMatmul::available() {
  return true;
}

bool DnnlMatmul::fp32_pays() {
  static const bool pays = __builtin_cpu_supports("avx512f");
  return pays;
}

namespace {

// Reorders weight (out, in), stored row-major, into the layout the kernels chose for `impl`.
std::shared_ptr<DnnlMatmul::Impl> laid_out(std::shared_ptr<DnnlMatmul::Impl> impl,
                                           const torch::Tensor& weight, const torch::Tensor& bias) {
  const auto type = impl->int8 ? dt::s8 : dt::f32;
  const dnnl::memory::desc any({impl->in, impl->out}, type, tag::any);
  impl->weight_desc = impl->describe(32, any).weights_desc();
  auto w = weight.contiguous();
  dnnl::memory plain({{impl->in, impl->out}, type, tag::ba}, cpu_engine(), w.data_ptr());
  impl->weights = dnnl::memory(impl->weight_desc, cpu_engine());
  dnnl::reorder(plain, impl->weights).execute(thread_stream(), plain, impl->weights);
  thread_stream().wait();
  impl->bias = bias.defined()
                   ? bias.detach().to(torch::kCPU, torch::kFloat).reshape({1, impl->out}).clone()
                   : torch::zeros({1, impl->out});
  return impl;
}

}  // namespace

bool DnnlEpilogue::fuses(const std::string& activation) {
  // gelu: where row_kernels::gelu runs, it after the product costs less than oneDNN's erf post-op
  // (TinyBERT4's intermediate, int8, 512 rows on one core: 0.93 ms with the post-op, 0.56 without
  // it; ours 0.14 ms on its own)
  if (activation == "gelu") return !row_kernels::available();
  return activation == "gelu_new" || activation == "relu";
}

std::shared_ptr<const DnnlMatmul> DnnlMatmul::fp32(const torch::Tensor& weight,
                                                   const torch::Tensor& bias,
                                                   const DnnlEpilogue& epilogue) {
  auto impl = std::make_shared<Impl>();
  impl->epilogue = epilogue;
  impl->in = weight.size(1), impl->out = weight.size(0);
  return std::make_shared<DnnlMatmul>(
      laid_out(impl, weight.detach().to(torch::kCPU, torch::kFloat), bias));
}

std::shared_ptr<const DnnlMatmul> DnnlMatmul::int8(const torch::Tensor& weight,
                                                   const torch::Tensor& scale,
                                                   const torch::Tensor& bias,
                                                   const DnnlEpilogue& epilogue) {
  auto impl = std::make_shared<Impl>();
  impl->int8 = true;
  impl->epilogue = epilogue;
  impl->in = weight.size(1), impl->out = weight.size(0);
  // A channel whose weight scale is below 1e-20 (every |w| under ~1e-18) runs as zero weights of
  // scale 1, its output its bias: bias / scale would overflow the bias argument.
  auto s = scale.to(torch::kFloat).reshape({impl->out}).clone();  // (out)
  const auto tiny = s < 1e-20f;
  auto w = tiny.any().item<bool>() ? weight.masked_fill(tiny.unsqueeze(1), 0) : weight;
  impl->scale = s.masked_fill_(tiny, 1.f).reshape({1, impl->out}).contiguous();
  impl = laid_out(impl, w, bias);
  const float* b = impl->bias.data_ptr<float>();
  const float* ps = impl->scale.data_ptr<float>();
  float largest = 0;
  for (int64_t n = 0; n < impl->out; ++n) {
    impl->bias_per_scale.push_back(b[n] / ps[n]);
    largest = std::max({largest, std::abs(impl->bias_per_scale.back()), std::abs(b[n])});
  }
  // bias / (scale * x_scale) and the sums scale * (sum + that) ~ bias / x_scale stay below 1e37:
  // an input whose range is under 127 times this floor is quantized as if it were that wide (for
  // biases up to 1e4 and scales over 1e-20, ranges under 1e-11), and the floor is a normal float
  impl->min_input_scale = std::max(largest * 1e-37f, std::numeric_limits<float>::min());
  return std::make_shared<DnnlMatmul>(impl);
}

torch::Tensor DnnlMatmul::forward(const torch::Tensor& x, const torch::Tensor& residual) const {
  const auto& m = *impl_;
  if (residual.defined() != m.epilogue.residual)
    fail("DnnlMatmul: a residual is ", m.epilogue.residual ? "required" : "not expected");
  if (x.dim() == 0 || x.size(-1) != m.in)
    fail("DnnlMatmul: input ", x.sizes(), " must end in ", m.in, " features");
  auto sizes = x.sizes().vec();
  sizes.back() = m.out;
  auto x2 = x.reshape({-1, m.in}).contiguous();  // (N, in)
  const int64_t rows = x2.size(0), n = x2.numel();
  auto y = torch::empty({rows, m.out}, x.options());  // (N, out)
  if (rows == 0) return y.view(sizes);
  auto& eng = cpu_engine();
  const auto prepared = m.primitive(rows);
  const auto run = [&](std::unordered_map<int, dnnl::memory>& args) {
    args[DNNL_ARG_SCRATCHPAD] = scratch_for(prepared.scratch);
    prepared.primitive.execute(thread_stream(), args);
    thread_stream().wait();
  };
  const dnnl::memory::desc row({1, m.out}, dt::f32, tag::ab);
  const dnnl::memory::desc rows_out({rows, m.out}, dt::f32, tag::ab);
  dnnl::memory dst(rows_out, eng, y.data_ptr());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_WEIGHTS, m.weights}, {DNNL_ARG_DST, dst}};
  torch::Tensor added;  // (N, out)
  if (m.epilogue.residual) {
    added = residual.reshape({rows, m.out}).contiguous();
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(m.residual_post_op()) | DNNL_ARG_SRC_1] =
        dnnl::memory(rows_out, eng, added.data_ptr());
  }
  if (!m.int8) {
    args[DNNL_ARG_SRC] = dnnl::memory({{rows, m.in}, dt::f32, tag::ab}, eng, x2.data_ptr());
    args[DNNL_ARG_BIAS] = dnnl::memory(row, eng, m.bias.data_ptr());
    run(args);
    return y.view(sizes);
  }
  const float* px = x2.data_ptr<float>();
  float lo = 0, hi = 0;
  if (!range_of(px, n, &lo, &hi)) return y.fill_(NAN).view(sizes);  // as fp32 would propagate
  float scale = (hi - lo) / static_cast<float>(kInt8ActivationMax);
  if (scale == 0.f) scale = 0.1f;
  scale = std::max(scale, m.min_input_scale);
  int32_t zero = static_cast<int32_t>(std::nearbyint(-lo / scale));
  auto q = torch::empty({rows, m.in}, x.options().dtype(torch::kByte));  // (N, in)
  uint8_t* pq = q.data_ptr<uint8_t>();
  at::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
    quantize_to(px + begin, end - begin, scale, static_cast<float>(zero), pq + begin);
  });
  std::vector<float> bias(m.bias_per_scale);  // (out) bias / (weight_scale * x_scale)
  const float per_input = 1.f / scale;
  for (float& b : bias) b *= per_input;
  args[DNNL_ARG_SRC] = dnnl::memory({{rows, m.in}, dt::u8, tag::ab}, eng, pq);
  args[DNNL_ARG_BIAS] = dnnl::memory(row, eng, bias.data());
  args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = dnnl::memory({{1}, dt::s32, tag::a}, eng, &zero);
  args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] =
      dnnl::memory({{1, 1}, dt::f32, tag::ab}, eng, &scale);
  run(args);
  return y.view(sizes);
}

#endif

}  // namespace tinybert::model
