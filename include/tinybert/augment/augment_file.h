// Augmenting a task file: streamed in chunks, resumable after a stop, written in the input's own
// format (GLUE TSV, generic TSV or JSONL, CoNLL): each original row, then its distinct variants.
// A CoNLL sentence's variants replace words one for one, each keeping its tag; words inside
// entities (B-/I-/E-/S- tags) are never replaced.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tinybert/augment/augmenter.h"

namespace tinybert::augment {

// What `tinybert augment` does with a loaded Augmenter.
struct AugmentJob {
  std::string task;          // GLUE task name or generic: the file's layout
  std::string input;         // the task file
  std::string output;        // written as OUTPUT.partial (+ OUTPUT.progress), renamed when complete
  int64_t chunk_rows = 256;  // rows whose words go through the MLM together
  uint64_t seed = 42;        // one generator per row from (seed, row): same seed, same file
  bool resume = false;       // continue from OUTPUT.progress when its settings match
  AugmentConfig config;
};

// Runs the job; `settings` identify it in OUTPUT.progress (a resume with others is refused).
// Holds a lock beside the output, so two runs never write one file.
void augment_file(const AugmentJob& job, Augmenter& aug, const nlohmann::json& settings);

}  // namespace tinybert::augment
