// The server's batcher with the real predictor: requests batched together get their own rows
// back, and a request whose input fails in the model fails alone, not its whole batch.
#include <gtest/gtest.h>

#include <chrono>

#include "tinybert/serve/batcher.h"

using namespace tinybert;
using namespace std::chrono_literals;

namespace {
const std::string kFixtures = TINYBERT_FIXTURES;
}  // namespace

TEST(Batcher, OneBadRequestDoesNotFailItsBatch) {
  infer::Predictor predictor(kFixtures + "/tiny-student-cls", {.workers = 1});
  auto enc = [&](const char* t) { return predictor.encode({t, std::nullopt}).front(); };
  text::Encoding bad = enc("poison pill");
  bad.ids[1] = 10'000'000;  // past the embedding table, as a broken tokenizer would give
  auto good1 = enc("the cat sat on the mat"), good2 = enc("a fine film"), good3 = enc("x");
  const auto reference = predictor.predict({&good1, &good2, &good3});

  serve::Metrics metrics;
  serve::Batcher batcher(predictor, {.max_batch = 64, .max_delay = 2s, .max_queue = 16}, metrics);
  const auto deadline = serve::Batcher::Clock::now() + 30s;
  batcher.arriving(+3);  // the worker waits for all three to arrive: one batch
  auto f1 = batcher.submit({good1}, deadline);
  batcher.arriving(-1);
  auto f2 = batcher.submit({bad}, deadline);
  batcher.arriving(-1);
  auto f3 = batcher.submit({good2, good3}, deadline);
  batcher.arriving(-1);
  const auto r1 = f1.get();
  EXPECT_THROW(f2.get(), std::exception);
  const auto r3 = f3.get();
  ASSERT_EQ(r1.size(), 1u);
  ASSERT_EQ(r3.size(), 2u);
  double worst = 0;
  for (const auto& [got, want] :
       {std::pair{r1[0], reference[0]}, std::pair{r3[0], reference[1]}, {r3[1], reference[2]}})
    for (size_t k = 0; k < want.scores.size(); ++k)
      worst = std::max<double>(worst, std::abs(got.scores[k] - want.scores[k]));
  std::printf("good requests beside a failing one vs alone: max |score diff| %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
}
