// The tinybert subcommands: each adds itself to the CLI and runs when chosen.
#pragma once

#include <c10/core/Device.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <functional>
#include <string>

#include "tinybert/data/task.h"

namespace tinybert::cli {

// Options every command takes.
struct CommonOptions {
  std::string device = "cpu";  // cpu | cuda | cuda:N
  int threads = 0;             // 0: one per core
  std::string config;          // --config FILE, already expanded into the options it sets
};

// Adds --device, --threads and --config to a subcommand.
void add_common_options(CLI::App* cmd, CommonOptions& common);
// Number checks that say their bound ("--lr: must be > 0, found -1") and refuse NaN and
// infinities (CLI11's Range lets NaN through; its PositiveNumber prints a 300-digit bound).
CLI::Validator positive(double hi = HUGE_VAL);      // (0, hi]
CLI::Validator non_negative(double hi = HUGE_VAL);  // [0, hi]
CLI::Validator in_range(double lo, double hi);      // [lo, hi]

// Question answering: --doc-stride, --max-query-length, --n-best, --max-answer-length,
// --null-threshold (HF run_qa's names and defaults).
void add_qa_options(CLI::App* cmd, data::QaSettings& qa);
// The QA options plus --allow-no-answer (predict, serve: a SQuAD v2.0 model may answer nothing).
void add_answer_options(CLI::App* cmd, data::QaSettings& qa);
// --workers of the inference commands (runtime::Workers; 0: one per thread).
void add_workers_option(CLI::App* cmd, int& workers);
// Applies --threads, resolves --device, and prints the runtime report to stderr.
c10::Device start_runtime(const CommonOptions& common);

// Each returns the command's runner, called after parsing if the command was chosen.
using Runner = std::function<int()>;
Runner add_tokenize(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_predict(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_finetune(CLI::App& app);
Runner add_distill(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_augment(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_pretrain(CLI::App& app);
Runner add_serve(CLI::App& app);
Runner add_init(CLI::App& app);
Runner add_export(CLI::App& app);
Runner add_quantize(CLI::App& app);

}  // namespace tinybert::cli
