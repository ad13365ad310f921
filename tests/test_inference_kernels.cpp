// Inference LayerNorm and GELU (our AVX-512 kernels where the CPU has them) against LibTorch and
// float64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "tinybert/model/bert.h"

using namespace tinybert;

TEST(LayerNorm, InferenceMatchesLibTorch) {
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  double ours = 0, theirs = 0;  // max difference from the same arithmetic in float64
  for (int64_t n : {2, 5, 16, 17, 32, 33, 48, 312, 768, 1000}) {
    torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({n}).eps(1e-12));
    ln->weight.normal_(1, 0.5), ln->bias.normal_(0, 0.5);
    const auto& o = ln->options;
    for (int64_t rows : {1, 3, 70}) {
      const auto x = torch::randn({rows, 2, n}) * 4 + 3;  // (rows, 2, n) off centre
      for (const auto& in : {x, x.transpose(0, 1)}) {     // dense and strided
        const auto exact =
            torch::layer_norm(in.to(torch::kDouble), o.normalized_shape(),
                              ln->weight.to(torch::kDouble), ln->bias.to(torch::kDouble), o.eps());
        const auto got = model::layer_norm(ln, in);
        ASSERT_EQ(got.sizes(), in.sizes());
        ours = std::max(ours, (got - exact).abs().max().item<double>());
        theirs = std::max(theirs, (ln(in) - exact).abs().max().item<double>());
      }
    }
  }
  std::cout << "LayerNorm against float64: max diff " << ours << " (LibTorch's float32: " << theirs
            << ")\n";
  // ill-conditioned rows (two features nearly equal) lose digits in any float32 arithmetic
  EXPECT_LE(ours, std::max(theirs, 1e-5));
}

TEST(LayerNorm, OneFeatureGivesTheBias) {
  // x - mean is exactly 0; LibTorch's moments leave rounding there that eps 1e-12 blows up.
  torch::NoGradGuard no_grad;
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({1}).eps(1e-12));
  ln->bias.fill_(0.25);
  EXPECT_TRUE(
      torch::equal(model::layer_norm(ln, torch::randn({6, 1}) * 5), torch::full({6, 1}, 0.25)));
}

TEST(LayerNorm, ANanStaysInItsRow) {
  torch::NoGradGuard no_grad;
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({40}));
  auto x = torch::randn({4, 40});
  x[1][17] = std::nan("");
  x[3][5] = 1e30f;  // its variance overflows: NaN, not a quiet row of beta
  const auto got = model::layer_norm(ln, x);
  EXPECT_TRUE(got[1].isnan().all().item<bool>());
  EXPECT_TRUE(got[3].isnan().all().item<bool>());
  EXPECT_FALSE(got[0].isnan().any().item<bool>() || got[2].isnan().any().item<bool>());
  EXPECT_TRUE(torch::allclose(got, ln(x), 1e-5, 1e-5, /*equal_nan=*/true));
}

TEST(LayerNorm, TrainingKeepsLibTorchsGradients) {
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({24}));
  const auto x = torch::randn({4, 24}, torch::requires_grad());
  model::layer_norm(ln, x).pow(2).sum().backward();
  ASSERT_TRUE(x.grad().defined() && ln->weight.grad().defined());
}

TEST(Gelu, InferenceMatchesFloat64) {
  torch::manual_seed(9);
  torch::NoGradGuard no_grad;
  // every interval of the erf table, both signs, past |x| = 4 sqrt(2), odd lengths for the tail
  for (int64_t n : {1, 15, 16, 17, 1000, 40001}) {
    auto x = torch::randn({n}) * 3;
    x[0] = 7.5f;
    const auto got = model::activation(x, "gelu");
    const auto exact = torch::gelu(x.to(torch::kDouble));
    const double ours = (got - exact).abs().max().item<double>(),
                 theirs = (torch::gelu(x) - exact).abs().max().item<double>();
    std::cout << "gelu n " << n << " against float64: max diff " << ours
              << " (LibTorch's float32: " << theirs << ")\n";
    EXPECT_LT(ours, 1e-6);
  }
  const auto edges = torch::tensor({0.f, -0.f, 1e-30f, -1e-30f, 100.f, -100.f, INFINITY, NAN});
  const auto got = model::activation(edges, "gelu"), want = torch::gelu(edges);
  EXPECT_TRUE(torch::allclose(got, want, 1e-6, 1e-7, /*equal_nan=*/true)) << got << want;
}

TEST(Gelu, StridedInput) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({20, 30}).t();  // (30, 20), strided
  EXPECT_LT((model::activation(x, "gelu") - torch::gelu(x)).abs().max().item<double>(), 1e-6);
}
