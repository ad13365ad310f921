// Parity with HuggingFace: every hidden state, attention score and probability, logits and MLM
// logits of the fixture models against reference.safetensors (fp32, 1e-5 absolute).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "fixture_reference.h"
#include "tinybert/model/dnnl_attention.h"
#include "tinybert/model/pretrained.h"

using namespace tinybert;
using fixtures::max_diff;
using fixtures::reference;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;
constexpr double kTol = 1e-5;

void check(const std::string& name, const torch::Tensor& got) {
  double d = max_diff(got, reference().at(name));
  std::printf("  %-32s max |diff| %.3g\n", name.c_str(), d);
  EXPECT_LE(d, kTol) << name;
}

void check_model_output(model::AutoBertImpl& m, const std::string& prefix) {
  auto out = m.forward(fixtures::reference_inputs(),
                       {.hidden_states = true, .attention_scores = true, .attention_probs = true});
  const int64_t L = m.config.num_hidden_layers;
  ASSERT_EQ(out.bert.hidden_states.size(), static_cast<size_t>(L + 1));
  for (int64_t i = 0; i <= L; ++i)
    check(prefix + ".hidden_states." + std::to_string(i), out.bert.hidden_states[i]);
  for (int64_t l = 0; l < L; ++l) {
    check(prefix + ".attention_scores." + std::to_string(l), out.bert.attention_scores[l]);
    check(prefix + ".attention_probs." + std::to_string(l), out.bert.attention_probs[l]);
  }
  check(prefix + ".logits", out.logits);
}

void check_model(const std::string& dir, const std::string& prefix) {
  auto loaded = model::load_model(kFixtures + "/" + dir);
  EXPECT_TRUE(loaded.report.initialized.empty());
  torch::NoGradGuard no_grad;
  check_model_output(*loaded.model, prefix);
}

}  // namespace

TEST(Parity, Teacher) {
  check_model("tiny-teacher-cls", "teacher");
}
TEST(Parity, Student) {
  check_model("tiny-student-cls", "student");
}

TEST(Parity, MaskedLMLogitsAtMask) {
  auto loaded = model::load_model(kFixtures + "/tiny-mlm");
  torch::NoGradGuard no_grad;
  auto out = loaded.model->forward(fixtures::reference_inputs("mlm.input_ids"));
  auto pos = reference().at("mlm.mask_position");
  auto got = out.mlm_logits[pos[0].item<int64_t>()][pos[1].item<int64_t>()];  // (V)
  check("mlm.logits_at_mask", got);
}

TEST(Parity, InferencePathMaterialisesNothingExtra) {
  auto loaded = model::load_model(kFixtures + "/tiny-student-cls");
  torch::InferenceMode guard;
  auto out = loaded.model->forward(fixtures::reference_inputs());
  EXPECT_TRUE(out.bert.hidden_states.empty());
  EXPECT_TRUE(out.bert.attention_scores.empty());
  EXPECT_TRUE(out.bert.attention_probs.empty());
  check("student.logits", out.logits);
}

TEST(Parity, TruncatedForwardStopsEarly) {
  auto loaded = model::load_model(kFixtures + "/tiny-teacher-cls");
  torch::NoGradGuard no_grad;
  auto out =
      loaded.model->forward(fixtures::reference_inputs(), {.hidden_states = true, .max_layers = 2});
  EXPECT_EQ(out.bert.hidden_states.size(), 3u);
  EXPECT_FALSE(out.logits.defined());
  check("teacher.hidden_states.2", out.bert.hidden_states[2]);
}

TEST(Parity, Bf16InferenceIsClose) {
  auto loaded = model::load_model(kFixtures + "/tiny-teacher-cls", {.dtype = torch::kBFloat16});
  torch::InferenceMode guard;
  auto out = loaded.model->forward(fixtures::reference_inputs());
  double d = max_diff(out.logits.to(torch::kFloat), reference().at("teacher.logits"));
  std::printf("  bf16 teacher.logits max |diff| %.3g\n", d);
  EXPECT_LE(d, 5e-2);
}

TEST(Parity, FusedQkvInference) {
  reference();  // loaded outside inference mode: the autograd part below uses it
  auto loaded = model::load_model(kFixtures + "/tiny-teacher-cls");
  auto& m = *loaded.model;
  const auto before = model::hf_state_dict(m);
  model::prepare_inference(*m.bert);
  // Parameters keep their names, shapes and values: checkpoints are unchanged.
  const auto after = model::hf_state_dict(m);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].first, after[i].first);
    EXPECT_TRUE(torch::equal(before[i].second, after[i].second)) << before[i].first;
  }
  {
    torch::InferenceMode guard;  // the fused path
    check_model_output(m, "teacher");
    // Without attention outputs asked for: what predict and serve run (attention on oneDNN on
    // AVX-512 CPUs).
    auto out = m.forward(fixtures::reference_inputs(), {.hidden_states = true});
    std::printf(
        "  attention at inference on %s\n",
        model::DnnlAttention::serves(torch::zeros({4, 1, 24, 8}), torch::zeros({4, 1, 1, 24}))
            ? "oneDNN"
            : "LibTorch (no oneDNN or no AVX-512)");
    const auto L = std::to_string(m.config.num_hidden_layers);
    check("teacher.hidden_states." + L, out.bert.hidden_states.back());
    check("teacher.logits", out.logits);
  }
  // With autograd on, the separate projections run and receive gradients.
  auto out = m.forward(fixtures::reference_inputs());
  out.logits.sum().backward();
  auto& q = m.bert->encoder->layer[0]->as<model::BertLayerImpl>()->attention->self->query;
  ASSERT_TRUE(q->weight.grad().defined());
  EXPECT_GT(q->weight.grad().abs().sum().item<double>(), 0.0);
  // A dtype change gives the parameters new storage; the stale fp32 fused copy is not used
  // (with it, the double inputs would meet fp32 weights and throw).
  m.to(torch::kDouble);
  torch::InferenceMode guard;
  auto d = m.forward(fixtures::reference_inputs(), {.hidden_states = true});
  check("teacher.hidden_states.4", d.bert.hidden_states[4]);
  check("teacher.logits", d.logits);
}

TEST(Parity, BlasPathWhenOneDnnIsOff) {
  // Inference in fp32 normally runs oneDNN's inner product; the OpenBLAS path must agree too.
  at::globalContext().setUserEnabledMkldnn(false);
  check_model("tiny-student-cls", "student");
  at::globalContext().setUserEnabledMkldnn(true);
}

TEST(Parity, LastLayerAtOnePositionPerSequence) {
  auto loaded = model::load_model(kFixtures + "/tiny-mlm");
  torch::NoGradGuard no_grad;
  auto in = fixtures::reference_inputs("mlm.input_ids");
  auto full = loaded.model->bert->forward(in).last_hidden_state;  // (B, T, H)
  const int64_t B = full.size(0), T = full.size(1);
  auto pos = (torch::arange(B, torch::kLong) * 7 + 3).remainder(T);  // 3, 10, 17, 0
  auto at = loaded.model->bert->forward(in, {.last_layer_positions = pos}).last_hidden_state;
  ASSERT_EQ(at.sizes(), (std::vector<int64_t>{B, 1, full.size(2)}));
  auto expect = full.index({torch::arange(B, torch::kLong), pos}).unsqueeze(1);
  const double d = max_diff(at, expect);
  std::printf("  last layer at one position vs full: max |diff| %.3g\n", d);
  EXPECT_LE(d, 1e-5);
}

TEST(Parity, ClsOnlyClassifierHasTheSameLogitsAndGradients) {
  // Fine-tuning and the prediction stage train through classify_at_cls: its logits must be HF's
  // and its gradients those of the full forward, for every parameter.
  auto loaded = model::load_model(kFixtures + "/tiny-teacher-cls");
  auto& m = *loaded.model;
  m.eval();  // dropout off, so both passes are deterministic
  const auto in = fixtures::reference_inputs();
  torch::manual_seed(0);
  const auto w = torch::randn({in.input_ids.size(0), m.config.num_labels()});  // (B, C)
  auto grads = [&](const torch::Tensor& logits) {
    m.zero_grad();
    (logits * w).sum().backward();
    std::map<std::string, torch::Tensor> g;
    for (const auto& p : m.named_parameters()) g[p.key()] = p.value().grad().clone();
    return g;
  };
  auto cls_logits = m.classify_at_cls(in);  // (B, C)
  const double logit_diff = max_diff(cls_logits, reference().at("teacher.logits"));
  const auto cls = grads(cls_logits), full = grads(m.forward(in).logits);
  double grad_diff = 0;
  for (const auto& [name, g] : full) {
    ASSERT_TRUE(g.defined() && cls.at(name).defined()) << name;
    grad_diff = std::max(grad_diff, max_diff(cls.at(name), g));
  }
  std::printf(
      "  [CLS]-only classifier: logits vs HF max |diff| %.3g, gradients vs full forward "
      "%.3g over %zu tensors\n",
      logit_diff, grad_diff, full.size());
  EXPECT_LE(logit_diff, 1e-5);
  EXPECT_LE(grad_diff, 1e-5);
}

TEST(Parity, ClsOnlyClassifierTrainsAsTheFullForwardWithDropout) {
  // In train mode the [CLS]-only last layer keeps the full forward's dropout masks (it draws
  // them at full size and keeps the [CLS] row), so the same seed gives the same loss and the
  // same gradients: a seed trains the same model either way.
  auto loaded = model::load_model(kFixtures + "/tiny-teacher-cls");
  auto& m = *loaded.model;
  m.train();
  ASSERT_GT(m.config.hidden_dropout_prob, 0);
  ASSERT_GT(m.config.attention_probs_dropout_prob, 0);
  const auto in = fixtures::reference_inputs();
  const auto labels = torch::arange(in.input_ids.size(0), torch::kLong).remainder(3);  // (B)
  auto run = [&](bool cls_only) {
    m.zero_grad();
    torch::manual_seed(1234);
    auto logits = cls_only ? m.classify_at_cls(in) : m.forward(in).logits;  // (B, C)
    auto loss = torch::cross_entropy_loss(logits, labels);
    loss.backward();
    std::map<std::string, torch::Tensor> g;
    for (const auto& p : m.named_parameters()) g[p.key()] = p.value().grad().clone();
    return std::pair{loss.item<double>(), g};
  };
  const auto [full_loss, full] = run(false);
  const auto [cls_loss, cls] = run(true);
  torch::manual_seed(99);  // another seed gives other masks: the check is not vacuous
  const double other = torch::cross_entropy_loss(m.forward(in).logits, labels).item<double>();
  double grad_diff = 0;
  for (const auto& [name, g] : full) grad_diff = std::max(grad_diff, max_diff(cls.at(name), g));
  std::printf(
      "  train mode, dropout on: loss full %.9g [CLS]-only %.9g (another seed %.9g); "
      "gradients max |diff| %.3g over %zu tensors\n",
      full_loss, cls_loss, other, grad_diff, full.size());
  EXPECT_NEAR(cls_loss, full_loss, 1e-6);
  EXPECT_GT(std::abs(other - full_loss), 1e-4);
  EXPECT_LE(grad_diff, 1e-5);
}
