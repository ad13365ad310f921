// Inference kernels on one thread against LibTorch's ops on the same data, measured in the same
// run: LayerNorm, GELU, the q/k/v heads gathered dense, and the whole attention (TinyBERT4 shapes:
// 16 rows of a batch-32 call on one of two workers, 32 and 128 tokens, 12 heads of 26).
// Usage: bench_kernels [--repeats 200]. Times are the fastest of 5 rounds (a noisy VM).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "../src/model/row_kernels.h"
#include "tinybert/model/bert.h"
#include "tinybert/model/dnnl_attention.h"

using namespace tinybert;

namespace {

// Microseconds per call of f, the fastest of 5 rounds of `repeats` calls.
template <typename F>
double time_us(int repeats, F&& f) {
  for (int i = 0; i < 10; ++i) f();
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i) f();
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - t0;
    best = std::min(best, took.count() / repeats);
  }
  return best;
}

void report(const char* what, double theirs, double ours) {
  std::printf("%-44s LibTorch %8.1f us  tinybert %8.1f us  %5.2fx\n", what, theirs, ours,
              theirs / ours);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"inference kernels against LibTorch's ops, one thread"};
  int repeats = 200;
  app.add_option("--repeats", repeats, "calls per round")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(1);
  torch::NoGradGuard no_grad;
  if (!model::row_kernels::available() ||
      !model::DnnlAttention::serves(torch::zeros({1, 1, 1, 1}), {})) {
    std::printf(
        "no AVX-512 (or no oneDNN) here: tinybert runs LibTorch's ops, nothing to compare\n");
    return 0;
  }
  for (int64_t H : {312, 768}) {
    torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({H}).eps(1e-12));
    const auto x = torch::randn({512, H});
    char what[64];
    std::snprintf(what, sizeof what, "LayerNorm 512 x %ld", static_cast<long>(H));
    report(what, time_us(repeats, [&] { return ln(x); }),
           time_us(repeats, [&] { return model::layer_norm(ln, x); }));
  }
  for (int64_t I : {1200, 3072}) {
    const auto x = torch::randn({512, I});
    char what[64];
    std::snprintf(what, sizeof what, "GELU 512 x %ld", static_cast<long>(I));
    report(what, time_us(repeats, [&] { return torch::gelu(x); }),
           time_us(repeats, [&] { return model::activation(x, "gelu"); }));
  }
  for (int64_t T : {32, 128}) {
    const int64_t B = 16, heads = 12, d = 26;
    const auto qkv = torch::randn({B, T, 3, heads, d}).permute({2, 0, 3, 1, 4});  // (3, B, h, T, d)
    const auto q = qkv[0], k = qkv[1], v = qkv[2];
    auto keep = torch::ones({B, T});
    keep.narrow(1, T - T / 4, T / 4).zero_();
    const auto mask = (1.0 - keep).mul(-10000.0).view({B, 1, 1, T});
    char what[64];
    std::snprintf(what, sizeof what, "q, k, v dense, 16 x %ld tokens", static_cast<long>(T));
    report(what,
           time_us(repeats,
                   [&] { return std::make_tuple(q.contiguous(), k.contiguous(), v.contiguous()); }),
           time_us(repeats, [&] {
             auto out = torch::empty({3, B, heads, T, d});
             for (int i = 0; i < 3; ++i) {
               const auto& t = qkv[i];
               model::row_kernels::gather_heads(t.data_ptr<float>(), B, heads, T, d, t.stride(0),
                                                t.stride(1), t.stride(2), out[i].data_ptr<float>(),
                                                d);
             }
             return out;
           }));
    std::snprintf(what, sizeof what, "attention with mask, 16 x %ld tokens", static_cast<long>(T));
    const double scale = 1.0 / std::sqrt(double(d));
    report(
        what,
        time_us(repeats / 4 + 1,
                [&] {
                  auto scores =
                      torch::baddbmm(mask.expand({B, heads, 1, T}).reshape({B * heads, 1, T}),
                                     q.reshape({B * heads, T, d}),
                                     k.reshape({B * heads, T, d}).transpose(1, 2), 1.0, scale);
                  auto ctx = torch::bmm(torch::softmax(scores, -1), v.reshape({B * heads, T, d}));
                  return ctx.view({B, heads, T, d}).transpose(1, 2).reshape({B, T, heads * d});
                }),
        time_us(repeats / 4 + 1,
                [&] { return model::DnnlAttention::forward(q, k, v, mask, scale); }));
  }
  return 0;
}
