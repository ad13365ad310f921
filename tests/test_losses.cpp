// TinyBERT losses against reference.json (official formulas, HF-made models): attention, hidden,
// soft cross-entropy at T=1 and T=2, gradients, and a 5-step SGD loss trajectory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "tinybert/core/error.h"
#include "tinybert/distill/losses.h"
#include "tinybert/io/tensor_file.h"
#include "tinybert/model/pretrained.h"

using namespace tinybert;
using namespace tinybert::distill;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

struct Fixture {
  std::map<std::string, torch::Tensor> ref = io::load_tensors(kFixtures + "/reference.safetensors");
  nlohmann::json losses = nlohmann::json::parse(read_file(kFixtures + "/reference.json"))["losses"];
  model::LoadedModel teacher = model::load_model(kFixtures + "/tiny-teacher-cls");
  model::LoadedModel student = model::load_model(kFixtures + "/tiny-student-cls");
  FitDense fit{16, 32};
  LayerMap map = LayerMap::uniform(4, 2);
  model::BertInputs in{ref.at("input_ids"), ref.at("token_type_ids"), ref.at("attention_mask")};
  model::ForwardOptions opt{.hidden_states = true, .attention_scores = true};

  Fixture() {
    torch::NoGradGuard g;
    fit->fit_dense->weight.copy_(ref.at("fit_dense.weight"));
    fit->fit_dense->bias.copy_(ref.at("fit_dense.bias"));
  }
  // att + rep + cls_T1, student in eval mode, teacher without grad.
  LossTerms total() {
    model::ModelOutput t;
    {
      torch::NoGradGuard g;
      t = teacher.model->forward(in, opt);
    }
    auto s = student.model->forward(in, opt);
    auto inter = intermediate_loss(s.bert, t.bert, *fit, map, {});
    auto pred = soft_prediction_loss(s.logits, t.logits, {}, {});
    return {inter.total + pred.total, {}};
  }
};

void expect_rel(double got, double want, const char* name) {
  double rel = std::abs(got - want) / std::max(1e-12, std::abs(want));
  std::printf("  %-12s got %.9g want %.9g rel diff %.3g\n", name, got, want, rel);
  EXPECT_LE(rel, 1e-6) << name;  // the README's claim
}

}  // namespace

TEST(Losses, MatchReferenceValues) {
  Fixture f;
  torch::NoGradGuard g;
  auto t = f.teacher.model->forward(f.in, f.opt);
  auto s = f.student.model->forward(f.in, f.opt);
  auto inter = intermediate_loss(s.bert, t.bert, *f.fit, f.map, {});
  expect_rel(inter.terms["att_loss"], f.losses["att_loss"], "att_loss");
  expect_rel(inter.terms["rep_loss"], f.losses["rep_loss"], "rep_loss");
  expect_rel(soft_cross_entropy(s.logits, t.logits, 1).item<double>(), f.losses["cls_loss_T1"],
             "cls_loss_T1");
  expect_rel(soft_cross_entropy(s.logits, t.logits, 2).item<double>(), f.losses["cls_loss_T2"],
             "cls_loss_T2");
}

TEST(Losses, GradientsMatchReference) {
  Fixture f;
  f.total().total.backward();
  auto params = f.student.model->named_parameters();
  int checked = 0;
  for (const auto& [name, want] : f.ref) {
    if (name.rfind("grad.", 0) != 0) continue;
    std::string p = name.substr(5);
    torch::Tensor got =
        p == "fit_dense.weight" ? f.fit->fit_dense->weight.grad() : params[p].grad();
    ASSERT_TRUE(got.defined()) << p;
    double d = (got - want).abs().max().item<double>();
    double scale = want.abs().max().item<double>();
    std::printf("  grad %-55s max |diff| %.3g (max |grad| %.3g)\n", p.c_str(), d, scale);
    EXPECT_LE(d, 1e-5 * std::max(1.0, scale)) << p;
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(Losses, SgdTrajectoryMatchesReference) {
  Fixture f;
  std::vector<torch::Tensor> params;
  for (auto& p : f.student.model->parameters()) params.push_back(p);
  for (auto& p : f.fit->parameters()) params.push_back(p);
  const auto want = f.losses["total_loss_sgd_trajectory_lr0.05"].get<std::vector<double>>();
  ASSERT_EQ(want.size(), 6u);
  for (size_t step = 0; step < want.size(); ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    auto loss = f.total().total;
    expect_rel(loss.item<double>(), want[step], ("step " + std::to_string(step)).c_str());
    if (step + 1 == want.size()) break;
    loss.backward();
    torch::NoGradGuard g;
    for (auto& p : params) p.sub_(0.05 * p.grad());
  }
}

TEST(LayerMap, UniformAndExplicit) {
  auto m = LayerMap::uniform(12, 4);
  EXPECT_EQ(m.hidden, (std::vector<int64_t>{0, 3, 6, 9, 12}));
  EXPECT_EQ(m.attention, (std::vector<int64_t>{2, 5, 8, 11}));
  EXPECT_EQ(m.teacher_layers_needed(), 12);
  auto e = LayerMap::parse("0,2,4", 12, 2);
  EXPECT_EQ(e.attention, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(e.teacher_layers_needed(), 4);
  EXPECT_EQ(LayerMap::parse("0,3,6,9,12", 12, 4).hidden, m.hidden);
}

TEST(LayerMap, ClearErrors) {
  auto error = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error([] { LayerMap::uniform(12, 5); }).find("multiple of student layers"),
            std::string::npos);
  EXPECT_NE(error([] { LayerMap::parse("0,3,6", 12, 4); }).find("needs 5"), std::string::npos);
  EXPECT_NE(error([] { LayerMap::parse("0,3,x,9,12", 12, 4); }).find("\"x\" is not a layer number"),
            std::string::npos);
  EXPECT_NE(error([] { LayerMap::parse("0,3,6,9,13", 12, 4); }).find("does not exist"),
            std::string::npos);
}

TEST(Losses, AttentionMaskRuleAndTemperatureOptions) {
  auto s = torch::tensor({-10000.0f, 1.0f, -50.0f}).view({1, 1, 1, 3});
  auto t = torch::tensor({-9999.0f, 3.0f, -200.0f}).view({1, 1, 1, 3});
  // -10000 and -200 become 0; -50 stays: ((0-0)^2 + (1-3)^2 + (-50-0)^2) / 3
  EXPECT_NEAR(attention_loss(s, t).item<double>(), (4.0 + 2500.0) / 3.0, 1e-3);
  auto sl = torch::tensor({{1.0f, 2.0f}}), tl = torch::tensor({{2.0f, 0.5f}});
  LossConfig cfg{.temperature = 2.0, .t2_scaling = true};
  auto p = soft_prediction_loss(sl, tl, {}, cfg);
  EXPECT_NEAR(p.total.item<double>(), 4.0 * soft_cross_entropy(sl, tl, 2.0).item<double>(), 1e-6);
  cfg.hard_label_weight = 0.5;
  p = soft_prediction_loss(sl, tl, torch::tensor({1}, torch::kLong), cfg);
  EXPECT_TRUE(p.terms.count("hard_loss"));
  // regression: MSE to gold labels by default
  auto r = regression_prediction_loss(torch::tensor({{1.0f}}), torch::tensor({{3.0f}}),
                                      torch::tensor({2.0f}), {});
  EXPECT_NEAR(r.total.item<double>(), 1.0, 1e-6);
}
