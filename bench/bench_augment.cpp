// Augmentation throughput (rows/s) with the fixture MLM on real sentences (the first N of the Brown
// corpus), batched and cached, against the same code run the reference's way in the same run:
// one sentence at a time, one MLM forward per word (batch 1), no neighbour cache.
// Usage: bench_augment [--text data/brown.txt] [--rows 1000] [--model tests/fixtures/hf/tiny-mlm]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "tinybert/augment/augmenter.h"
#include "tinybert/core/error.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/runtime/runtime.h"

using namespace tinybert;

namespace {

// Candidates for every row in chunks of `chunk`, then the tries; returns seconds.
double run(augment::Augmenter& aug, const std::vector<std::string>& rows, size_t chunk,
           size_t& variants) {
  auto t0 = std::chrono::steady_clock::now();
  variants = 0;
  double cand_s = 0;
  for (size_t start = 0; start < rows.size(); start += chunk) {
    std::vector<std::string> part(rows.begin() + start,
                                  rows.begin() + std::min(rows.size(), start + chunk));
    auto c0 = std::chrono::steady_clock::now();
    auto cands = aug.candidates(part);
    cand_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    for (size_t i = 0; i < part.size(); ++i) {
      std::mt19937_64 rng(start + i);
      variants += aug.tries(part[i], cands[i], rng).size();
    }
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("    (candidates %.2f s, tries %.2f s)\n", cand_s, total - cand_s);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"augmentation benchmark"};
  std::string text = "data/brown.txt", model = std::string(TINYBERT_FIXTURES) + "/tiny-mlm";
  size_t n = 1000;
  int threads = 0;
  int64_t mlm_batch = augment::AugmentConfig{}.mlm_batch_size;
  app.add_option("--text", text, "one sentence a line")->capture_default_str();
  app.add_option("--rows", n, "sentences to augment")->capture_default_str();
  app.add_option("--model", model, "masked-LM model")->capture_default_str();
  app.add_option("--threads", threads, "0: one per core")->capture_default_str();
  app.add_option("--mlm-batch", mlm_batch, "masked inputs per MLM forward (tinybert's side)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  runtime::tune_allocator();
  try {
    at::set_num_threads(threads > 0 ? threads
                                    : static_cast<int>(std::thread::hardware_concurrency()));
    std::vector<std::string> rows;
    std::ifstream in(text);
    if (!in) fail("cannot open ", text, " (run scripts/fetch_data.sh)");
    for (std::string l; rows.size() < n && std::getline(in, l);)
      if (!l.empty()) rows.push_back(l);
    auto loaded = model::load_model(model);
    auto tok = text::Tokenizer::from_dir(model);
    augment::Augmenter fast(loaded.model, tok, {.mlm_batch_size = mlm_batch});  // CLI defaults
    augment::Augmenter slow(
        loaded.model, tok,
        {.mlm_batch_size = 1, .cache_neighbours = false, .parallel_batches = false});
    size_t vf = 0, vs = 0;
    double tf = run(fast, rows, 256, vf);  // --chunk-rows default
    double ts = run(slow, rows, 1, vs);
    std::printf("%zu sentences from %s, model %s, %d threads, N_a 20, K 15\n", rows.size(),
                text.c_str(), model.c_str(), at::get_num_threads());
    std::printf(
        "  tinybert (batched words and sentences, batches side by side, cached neighbours): %.2f "
        "s, %.1f rows/s, %ld MLM "
        "forwards\n",
        tf, rows.size() / tf, long(fast.mlm_forwards()));
    std::printf(
        "  baseline (one sentence, one word per forward on all threads, no cache): %.2f s, %.1f "
        "rows/s, %ld MLM "
        "forwards\n",
        ts, rows.size() / ts, long(slow.mlm_forwards()));
    std::printf("speed-up: %.1fx (tries made: %zu and %zu)\n", ts / tf, vf, vs);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
