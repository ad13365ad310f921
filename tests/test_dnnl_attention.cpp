// Inference attention on oneDNN against the same arithmetic in LibTorch ops.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <limits>
#include <thread>

#include "tinybert/model/dnnl_attention.h"

using namespace tinybert;

namespace {

// softmax(q k^T * scale + mask) v, (B, heads, T, d) -> (B, T, heads * d)
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, double scale) {
  auto scores = torch::matmul(q, k.transpose(-1, -2)) * scale;  // (B, heads, T, T)
  if (mask.defined()) scores = scores + mask;
  auto ctx = torch::matmul(torch::softmax(scores, -1), v);  // (B, heads, T, d)
  return ctx.transpose(1, 2).reshape({q.size(0), q.size(2), -1});
}

// q, k, v as the fused QKV projection gives them: strided views of one (B, T, 3H) tensor.
std::array<torch::Tensor, 3> qkv(int64_t B, int64_t T, int64_t heads, int64_t d) {
  auto x = torch::randn({B, T, 3, heads, d}).permute({2, 0, 3, 1, 4});  // (3, B, heads, T, d)
  return {x[0], x[1], x[2]};
}

// (B, 1, 1, T): row b keeps T - b tokens, the others get `masked` (BERT's -10000; newer HF code
// uses the dtype's lowest value)
torch::Tensor padding_mask(int64_t B, int64_t T, double masked = -10000.0) {
  auto keep = torch::ones({B, T});
  for (int64_t b = 1; b < B; ++b) keep[b].narrow(0, T - b, b).zero_();
  return (1.0 - keep).mul(masked).view({B, 1, 1, T});
}

}  // namespace

TEST(DnnlAttention, MatchesLibTorchWithAndWithoutMask) {
  const auto probe = torch::zeros({4, 2, 3, 8});
  if (!model::DnnlAttention::serves(probe, {})) GTEST_SKIP() << "no oneDNN or no AVX-512 here";
  torch::manual_seed(5);
  double worst = 0;
  const int threads = at::get_num_threads();
  for (int t : {1, 2}) {  // rows run in chunks whose scores, q, k, v fit 1 MiB a thread
    at::set_num_threads(t);
    // up to 64 tokens and heads of up to 64: our kernel (4 query rows, 16 keys and 16 head
    // columns at a time); else oneDNN's products in chunks of rows
    for (auto [B, T, heads, d] : {std::array<int64_t, 4>{4, 7, 3, 5},
                                  {3, 128, 12, 26},  // oneDNN, 1 thread: chunks of 1
                                  {8, 33, 4, 64},
                                  {1, 1, 2, 8},
                                  {2, 32, 12, 26},  // TinyBERT4's heads at 32 tokens
                                  {3, 17, 2, 16},   // 2 x 16 keys, heads of exactly 16
                                  {2, 20, 3, 56},   // a partial 4th block of head columns
                                  {1, 40, 12, 26},
                                  {2, 1, 1, 4},
                                  {2, 64, 3, 48},  // the most keys the kernel takes
                                  {1, 64, 2, 40},  // and a partial 3rd block of columns
                                  {2, 65, 3, 17},  // one token more: oneDNN's products
                                  {3, 30, 2, 65},  // heads over 64: oneDNN's products
                                  {8, 80, 4, 64},  // oneDNN: groups of 8 softmax rows cross masks
                                  {5, 160, 4, 8},  // 460 KB a row: 1 thread: chunks of 2, 2, 1
                                  {5, 180, 6, 8}}) {  // 861 KB a row: 2 threads: 2, 2, 1
      auto [q, k, v] = qkv(B, T, heads, d);
      const double scale = 1.0 / std::sqrt(double(d));
      for (const auto& mask : {torch::Tensor(), padding_mask(B, T),
                               padding_mask(B, T, std::numeric_limits<float>::lowest())}) {
        ASSERT_TRUE(model::DnnlAttention::serves(q, mask));
        const auto got = model::DnnlAttention::forward(q, k, v, mask, scale);
        EXPECT_EQ(got.sizes(), (torch::IntArrayRef{B, T, heads * d}));
        worst = std::max(worst, (got - reference(q, k, v, mask, scale)).abs().max().item<double>());
      }
    }
  }
  at::set_num_threads(threads);
  std::cout << "oneDNN attention vs LibTorch ops: max diff " << worst << "\n";
  EXPECT_LT(worst, 1e-5);
}

TEST(DnnlAttention, AnyLayoutOfQKV) {
  const auto probe = torch::zeros({4, 2, 3, 8});
  if (!model::DnnlAttention::serves(probe, {})) GTEST_SKIP() << "no oneDNN or no AVX-512 here";
  torch::manual_seed(11);
  const int64_t B = 3, heads = 4, T = 9, d = 26;  // v padded to 32 columns inside
  const auto dense = torch::randn({B, heads, T, d}), mask = padding_mask(B, T);
  const auto columns = torch::randn({B, heads, d, T}).transpose(2, 3);  // d's stride is T
  for (const auto& [q, k, v] : {std::array<torch::Tensor, 3>{dense, dense, dense},
                                {columns, dense, columns},
                                {dense, columns, dense}}) {
    const auto got = model::DnnlAttention::forward(q, k, v, mask, 0.3);
    EXPECT_LT((got - reference(q, k, v, mask, 0.3)).abs().max().item<double>(), 1e-5);
  }
}

TEST(DnnlAttention, ANanScoreSpreadsAsInLibTorch) {
  const auto probe = torch::zeros({4, 2, 3, 8});
  if (!model::DnnlAttention::serves(probe, {})) GTEST_SKIP() << "no oneDNN or no AVX-512 here";
  torch::manual_seed(7);
  // a row of scores shorter than, as long as, longer than 16; and 100 on oneDNN's products
  for (int64_t T : {5, 16, 40, 100}) {
    // A NaN in q: all of one token's scores in one head; in k: one score of every token there.
    for (const bool in_q : {true, false}) {
      auto [q, k, v] = qkv(3, T, 2, 8);
      (in_q ? q : k)[1][0][2][3] = std::nan("");  // row 1, head 0, token 2
      const auto got = model::DnnlAttention::forward(q, k, v, padding_mask(3, T), 0.5);
      const auto want = reference(q, k, v, padding_mask(3, T), 0.5);
      EXPECT_TRUE(torch::equal(got.isnan(), want.isnan())) << "T " << T;
      // head 0's context of token 2 (q), or of every token of row 1 (k); nothing else
      EXPECT_EQ(got.isnan().sum().item<int64_t>(), in_q ? 8 : 8 * T) << "T " << T;
      EXPECT_LT((got.nan_to_num() - want.nan_to_num()).abs().max().item<double>(), 1e-5);
    }
  }
}

TEST(DnnlAttention, ServesOnlyWhatItWasBuiltFor) {
  const auto q = torch::zeros({4, 2, 3, 8});
  if (!model::DnnlAttention::serves(q, {})) GTEST_SKIP() << "no oneDNN or no AVX-512 here";
  EXPECT_FALSE(model::DnnlAttention::serves(q.to(torch::kBFloat16), {}));
  EXPECT_FALSE(model::DnnlAttention::serves(q.to(torch::kDouble), {}));
  EXPECT_FALSE(model::DnnlAttention::serves(q, torch::zeros({4, 1, 3, 3})));  // not (B, 1, 1, T)
  EXPECT_FALSE(model::DnnlAttention::serves(q, torch::zeros({4, 1, 1, 3}, torch::kDouble)));
  EXPECT_TRUE(model::DnnlAttention::serves(q, torch::zeros({4, 1, 1, 3})));
  EXPECT_FALSE(model::DnnlAttention::serves(q.narrow(0, 0, 0), {}));  // no rows
  EXPECT_FALSE(model::DnnlAttention::serves(q.narrow(1, 0, 0), {}));  // no heads
  EXPECT_FALSE(model::DnnlAttention::serves(q.narrow(3, 0, 0), {}));  // heads of size 0
  EXPECT_THROW(model::DnnlAttention::forward(q, q, q.narrow(2, 0, 2), {}, 1.0), std::exception);
  EXPECT_THROW(model::DnnlAttention::forward(q, q.to(torch::kDouble), q, {}, 1.0), std::exception);
  EXPECT_THROW(model::DnnlAttention::forward(q, q, q, torch::zeros({4, 1, 3, 3}), 1.0),
               std::exception);
}

TEST(DnnlAttention, ConcurrentCallsGiveEachTheirOwnAnswer) {
  const auto probe = torch::zeros({4, 2, 3, 8});
  if (!model::DnnlAttention::serves(probe, {})) GTEST_SKIP() << "no oneDNN or no AVX-512 here";
  torch::manual_seed(6);
  std::vector<std::array<torch::Tensor, 4>> jobs;  // q, k, v, mask; half share one shape
  std::vector<torch::Tensor> expected, got(8);
  for (int64_t i = 0; i < 8; ++i) {
    const int64_t B = i % 2 ? 4 : 2 + i, T = i % 2 ? 16 : i == 6 ? 128 : 5 + i;
    auto [q, k, v] = qkv(B, T, 2, i == 6 ? 64 : 8);  // one large scratchpad among small ones
    jobs.push_back({q, k, v, padding_mask(B, T)});
    expected.push_back(model::DnnlAttention::forward(q, k, v, jobs.back()[3], 0.35));
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < jobs.size(); ++i)
    threads.emplace_back([&, i] {
      const auto& [q, k, v, mask] = jobs[i];
      for (int r = 0; r < 20; ++r) got[i] = model::DnnlAttention::forward(q, k, v, mask, 0.35);
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_TRUE(torch::equal(got[i], expected[i])) << i;
}
