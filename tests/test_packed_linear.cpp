// Packed inference Linears (oneDNN): fp32 and int8 against LibTorch and the int8 arithmetic.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "tinybert/model/bert.h"
#include "tinybert/model/packed_linear.h"
#include "tinybert/model/pretrained.h"

using namespace tinybert;

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// What an int8 layer computes, in LibTorch ops: x quantized per tensor to 0..127 over a range
// holding 0 (zero point round(-min / scale)), int32 sums with the int8 weight, rescaled, + bias.
torch::Tensor int8_reference(const torch::Tensor& x, const model::PackedLinear& p) {
  const float lo = std::min(0.f, x.min().item<float>()), hi = std::max(0.f, x.max().item<float>());
  const float scale = (hi - lo) / 127.f;
  const float zero = std::nearbyint(-lo / scale);
  auto q = (x / scale).round().add(zero).clamp(0, 255).sub(zero);                    // (..., in)
  auto sums = torch::matmul(q.to(torch::kDouble), p.weight.to(torch::kDouble).t());  // (..., out)
  return (sums * (p.scale.to(torch::kDouble) * scale) + p.bias.to(torch::kDouble))
      .to(torch::kFloat);
}

}  // namespace

TEST(PackedLinear, Fp32MatchesLinearAtEveryRowCount) {
  if (!model::DnnlMatmul::available()) GTEST_SKIP() << "built without oneDNN";
  torch::NoGradGuard no_grad;  // packed layers serve inference only
  torch::manual_seed(1);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{312, 936}, {37, 5}}) {
    auto w = torch::randn({out, in}) * 0.05, b = torch::randn({out});
    auto p = model::pack_fp32(w, b);
    for (int64_t rows : {0, 1, 7, 32, 129}) {
      auto x = torch::randn({rows, in});
      ASSERT_TRUE(p.serves(x));
      auto y = p.forward(x);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{rows, out}));
      if (rows == 0) continue;
      const double d = max_diff(y, torch::linear(x, w, b));
      std::cout << "  fp32 " << in << "->" << out << " rows " << rows << " max |diff| " << d
                << "\n";
      EXPECT_LT(d, 1e-4);
    }
    auto x3 = torch::randn({2, 3, in});  // (B, T, in)
    EXPECT_LT(max_diff(p.forward(x3), torch::linear(x3, w, b)), 1e-4);
  }
}

TEST(PackedLinear, Fp32FallsBackOnceItsWeightsChange) {
  if (!model::DnnlMatmul::available()) GTEST_SKIP() << "built without oneDNN";
  torch::manual_seed(3);
  torch::nn::Linear lin(16, 8);
  auto p = model::pack_fp32(lin->weight, lin->bias);
  auto x = torch::randn({4, 16});
  EXPECT_FALSE(p.serves(x));  // autograd on: LibTorch's Linear, which it can differentiate
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(p.serves(x));
  EXPECT_FALSE(p.serves(x.to(torch::kDouble)));
  lin->weight.add_(1.0);  // as an optimizer step does
  EXPECT_FALSE(p.serves(x));
  // The stale pack would be off by about |sum(x)| (~4); oneDNN's and BLAS's sums of the new
  // weights differ in the last bits (1.2e-6 at outputs near 10 on one CI machine).
  EXPECT_LT(max_diff(model::linear(x, lin, p), lin(x)), 1e-4);
  auto q = model::pack_fp32(lin->weight, lin->bias);
  lin->bias.zero_();
  EXPECT_FALSE(q.serves(x));
  EXPECT_LT(max_diff(model::linear(x, lin, q), lin(x)), 1e-4);
  auto r = model::pack_fp32(lin->weight, lin->bias);
  lin->weight.set_data(lin->weight.to(torch::kBFloat16).to(torch::kFloat));  // what .to() does
  EXPECT_FALSE(r.serves(x));
}

TEST(PackedLinear, PreparedModelFollowsWeightChanges) {
  const std::string dir = std::string(TINYBERT_FIXTURES) + "/tiny-teacher-cls";
  auto packed = model::load_model(dir).model, plain = model::load_model(dir).model;
  model::prepare_inference(*packed->bert);
  auto ids = torch::randint(5, 100, {2, 7});
  model::BertInputs in{ids, torch::zeros_like(ids), torch::ones_like(ids)};
  torch::NoGradGuard no_grad;
  packed->eval(), plain->eval();
  const auto before = plain->forward(in).logits;
  EXPECT_LT(max_diff(packed->forward(in).logits, before), 1e-5);
  torch::Tensor step;
  for (auto* m : {&packed, &plain}) {  // an in-place step on one projection of the fused three
    auto& self = *(*m)->bert->encoder->layer[0]->as<model::BertLayerImpl>()->attention->self;
    if (!step.defined()) step = torch::randn_like(self.value->weight) * 0.5;
    self.value->weight.add_(step);
  }
  EXPECT_GT(max_diff(plain->forward(in).logits, before), 1e-3);  // the step shows
  const double d = max_diff(packed->forward(in).logits, plain->forward(in).logits);
  std::cout << "  after an in-place step: max |diff| " << d << "\n";
  EXPECT_LT(d, 1e-5);
}

TEST(PackedLinear, Int8FollowsItsArithmetic) {
  torch::manual_seed(2);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{312, 936}, {1200, 312}, {37, 5}}) {
    auto w = torch::randn({out, in}) * 0.05, b = torch::randn({out});
    auto p = model::quantize_linear(w, b);
    for (int64_t rows : {1, 7, 32, 129}) {
      auto x = torch::randn({rows, in}) + 0.5;  // asymmetric: a zero point away from the middle
      const double d = max_diff(p.forward(x), int8_reference(x, p));
      std::cout << "  int8 " << in << "->" << out << " rows " << rows << " max |diff| " << d
                << " (against fp32: " << max_diff(p.forward(x), torch::linear(x, w, b)) << ")\n";
      EXPECT_LT(d, 1e-4);
    }
    auto positive = torch::rand({3, in});  // all >= 0: the range starts at 0, zero point 0
    EXPECT_LT(max_diff(p.forward(positive), int8_reference(positive, p)), 1e-4);
    auto zeros = torch::zeros({2, in});  // scale 0 becomes 0.1, as the exported graph does
    EXPECT_LT(max_diff(p.forward(zeros), b.expand({2, out})), 1e-6);
    // a range far below the bias' scale: the input scale is floored, the answer finite, ~ bias
    auto tiny = torch::randn({2, in}) * 1e-36;
    const auto y = p.forward(tiny);
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    EXPECT_LT(max_diff(y, b.expand({2, out})), 1e-5);
    for (float bad : {NAN, INFINITY}) {  // not quantized into finite garbage
      auto x = torch::randn({3, in});
      x[1][2] = bad;
      EXPECT_TRUE(p.forward(x).isnan().all().item<bool>()) << bad;
    }
  }
}

TEST(PackedLinear, Int8ChannelOfTinyWeightsGivesItsBias) {
  // one output channel's weights ~1e-38: its weight scale is subnormal and bias / scale overflows
  // a float; that channel must give its bias, the others their usual answer, nothing inf or NaN
  torch::manual_seed(4);
  auto w = torch::randn({6, 40}) * 0.05, b = torch::randn({6});
  w[2] = torch::randn({40}) * 1e-38;
  b[2] = 1.f;
  auto p = model::quantize_linear(w, b);
  for (const auto& x : {torch::randn({5, 40}), torch::randn({3, 40}) * 1e-6}) {
    const auto y = p.forward(x);
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    EXPECT_LT(max_diff(y.select(1, 2), b[2].expand({x.size(0)})), 1e-6);
    EXPECT_LT(max_diff(y, int8_reference(x, p)), 1e-4);
  }
}

TEST(PackedLinear, ConcurrentCallsGiveEachTheirOwnAnswer) {
  torch::manual_seed(3);
  auto w = torch::randn({96, 64}) * 0.1, b = torch::randn({96});
  std::vector<model::PackedLinear> layers{model::quantize_linear(w, b)};
  if (model::DnnlMatmul::available()) layers.push_back(model::pack_fp32(w, b));
  for (const auto& p : layers) {
    std::vector<torch::Tensor> xs, expected, got(8);
    for (int64_t i = 0; i < 8; ++i) {  // half share one row count: one primitive, run at once
      xs.push_back(torch::randn({i % 2 ? 48 : 1 + 5 * i, 64}));
      expected.push_back(p.forward(xs.back()));
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < xs.size(); ++i)
      threads.emplace_back([&, i] {
        for (int r = 0; r < 20; ++r) got[i] = p.forward(xs[i]);
      });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < xs.size(); ++i) EXPECT_TRUE(torch::equal(got[i], expected[i])) << i;
  }
}

TEST(PackedLinear, EpiloguesMatchTheSeparateOps) {
  if (!model::DnnlMatmul::available()) GTEST_SKIP() << "built without oneDNN";
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  auto w = torch::randn({48, 40}) * 0.2, b = torch::randn({48});
  auto x = torch::randn({9, 40}), r = torch::randn({9, 48});
  for (const auto& base : {model::pack_fp32(w, b), model::quantize_linear(w, b)}) {
    const auto plain = base.forward(x);  // (9, 48)
    const std::pair<std::string, torch::Tensor> acts[] = {{"gelu", torch::gelu(plain)},
                                                          {"gelu_new", torch::gelu(plain, "tanh")},
                                                          {"relu", torch::relu(plain)}};
    for (const auto& [act, expected] : acts) {
      // one it does not fuse (gelu where our row kernel is the faster) is left to the module
      const bool fuses = model::DnnlEpilogue::fuses(act);
      const auto fused = model::with_epilogue(base, {.activation = act});
      EXPECT_EQ(fused.epilogue.activation, fuses ? act : "");
      const double d = max_diff(fused.forward(x), fuses ? expected : plain);
      std::cout << "  " << (base.int8() ? "int8 " : "fp32 ") << act << " max |diff| " << d << "\n";
      EXPECT_LT(d, 1e-5) << act;
    }
    const auto residual = model::with_epilogue(base, {.residual = true});
    EXPECT_LT(
        max_diff(residual.forward(x.view({3, 3, 40}), r.view({3, 3, 48})).view({9, 48}), plain + r),
        1e-5);
    EXPECT_ANY_THROW(residual.forward(x));  // the residual it adds is missing
    EXPECT_FALSE(model::with_epilogue(base, {.activation = "swish"}).epilogue.residual);
    EXPECT_TRUE(model::with_epilogue(base, {.activation = "swish"}).plain());
  }
}
