// The serving path (model::infer) against HF's logits, whole and split over CPU workers; the
// worker pool; the FLOPs infer runs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "fixture_reference.h"
#include "tinybert/model/infer.h"
#include "tinybert/model/pretrained.h"

using namespace tinybert;
using fixtures::max_diff;
using fixtures::reference;

namespace {

const std::string kFixtures = TINYBERT_FIXTURES;

}  // namespace

TEST(Infer, MatchesHfWholeAndSplitOverWorkers) {
  const auto& r = reference();
  const auto in = fixtures::reference_inputs();
  // 20 rows, five copies of each reference row, shortest first: the first worker's 10 rows are
  // the two shortest inputs, cut to their own length, the second's the two longest.
  const auto order = in.attention_mask.sum(1).argsort();  // (4)
  const auto rows = order.repeat_interleave(5);           // (20)
  const model::BertInputs many{in.input_ids.index_select(0, rows),
                               in.token_type_ids.index_select(0, rows),
                               in.attention_mask.index_select(0, rows)};
  runtime::Workers workers(2);
  for (const auto& [dir, prefix] :
       {std::pair{"tiny-teacher-cls", "teacher"}, {"tiny-student-cls", "student"}}) {
    auto loaded = model::load_model(kFixtures + "/" + dir);
    model::prepare_inference(*loaded.model->bert);
    const auto& want = r.at(std::string(prefix) + ".logits");  // (4, C)
    const double whole = max_diff(model::infer(*loaded.model, in), want);
    const double split =
        max_diff(model::infer(*loaded.model, many, &workers), want.index_select(0, rows));
    std::printf("  %s logits, [CLS]-only last layer: max |diff| %.3g whole, %.3g split\n", prefix,
                whole, split);
    EXPECT_LE(whole, 1e-5);
    EXPECT_LE(split, 1e-5);
  }
}

TEST(Infer, OtherHeadsReturnTheirFullOutput) {
  const auto& r = reference();
  const auto in = fixtures::reference_inputs("mlm.input_ids");
  auto loaded = model::load_model(kFixtures + "/tiny-mlm");
  runtime::Workers workers(2);
  const auto rows = torch::arange(in.input_ids.size(0), torch::kLong).repeat(4);  // 16 rows
  auto got =
      model::infer(*loaded.model,
                   {in.input_ids.index_select(0, rows), in.token_type_ids.index_select(0, rows),
                    in.attention_mask.index_select(0, rows)},
                   &workers);  // (16, T, V)
  const auto pos = r.at("mlm.mask_position");
  const int64_t b = pos[0].item<int64_t>(), t = pos[1].item<int64_t>();
  const double d = std::max(max_diff(got[b][t], r.at("mlm.logits_at_mask")),
                            max_diff(got[b + in.input_ids.size(0)][t], r.at("mlm.logits_at_mask")));
  std::printf("  mlm logits at the mask, split: max |diff| %.3g\n", d);
  EXPECT_LE(d, 1e-5);
}

TEST(Workers, EveryTaskOnceOnOneThreadEachAndTheCallerUntouched) {
  const int before = at::get_num_threads();
  runtime::Workers workers(3);
  EXPECT_EQ(workers.size(), 3);
  EXPECT_EQ(at::get_num_threads(), before);
  for (int round = 0; round < 2; ++round) {  // the pool is reused
    std::vector<int> runs(100, 0), threads(100, 0);
    workers.run(runs.size(), [&](size_t i) {
      ++runs[i];  // each index is one task: no two workers write the same element
      threads[i] = at::get_num_threads();
    });
    for (size_t i = 0; i < runs.size(); ++i) {
      EXPECT_EQ(runs[i], 1) << i;
      EXPECT_EQ(threads[i], 1) << i;
    }
  }
  EXPECT_EQ(at::get_num_threads(), before);
}

TEST(Workers, ATaskErrorReachesTheCallerAndThePoolGoesOn) {
  runtime::Workers workers(2);
  try {
    workers.run(10, [](size_t i) {
      if (i == 3) throw std::runtime_error("task 3 failed");
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "task 3 failed");
  }
  std::atomic<int> done{0};
  workers.run(5, [&](size_t) { ++done; });
  EXPECT_EQ(done, 5);
}

TEST(Infer, FlopsOfTheClsOnlyLastLayer) {
  model::BertConfig tiny;  // TinyBERT4
  tiny.architecture = model::Architecture::SequenceClassification;
  tiny.num_hidden_layers = 4;
  tiny.hidden_size = 312;
  tiny.intermediate_size = 1200;
  // By hand, seq 128: a whole layer 8TH^2 + 4THI + 4T^2H = 311,820,288; the last layer at [CLS]
  // 4TH^2 (keys, values) + 4H^2 (query, output) + 4TH (attention) + 4HI (feed-forward) =
  // 51,886,848.
  EXPECT_EQ(model::forward_flops(tiny, 128) - model::inference_flops(tiny, 128),
            311'820'288 - 51'886'848);
  tiny.architecture = model::Architecture::MaskedLM;  // every position is read
  EXPECT_EQ(model::forward_flops(tiny, 128), model::inference_flops(tiny, 128));
}
