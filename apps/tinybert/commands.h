// The tinybert subcommands: each adds itself to the CLI and runs when chosen.
#pragma once

#include <c10/core/Device.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace tinybert::cli {

// Options every command takes.
struct CommonOptions {
  std::string device = "cpu";  // cpu | cuda | cuda:N
  int threads = 0;             // 0: one per core
  std::string config;          // --config FILE, already expanded into the options it sets
};

// Adds --device, --threads and --config to a subcommand.
void add_common_options(CLI::App* cmd, CommonOptions& common);
// Number checks that say the bound ("must be > 0, found -1"): CLI11's PositiveNumber and
// NonNegativeNumber print their upper bound as a 300-digit number.
CLI::Validator positive();
CLI::Validator non_negative();
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

}  // namespace tinybert::cli
