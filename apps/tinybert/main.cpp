// tinybert: one binary, one subcommand per step of TinyBERT distillation and serving.
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/runtime/runtime.h"
#include "train_options.h"

namespace tinybert::cli {

void add_common_options(CLI::App* cmd, CommonOptions& common) {
  cmd->add_option("--device", common.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", common.threads, "CPU threads (0: one per core)")
      ->capture_default_str()
      ->check(non_negative(1024));
  cmd->add_option(
      "--config", common.config,
      "TOML/INI file of options (keys are the long option names, e.g. max-length = 64); "
      "options on the command line win");
}

namespace {

std::string number_text(double x) {
  if (x == std::floor(x) && std::abs(x) < 1e15) return std::to_string(static_cast<int64_t>(x));
  return cat(x);
}

// A number check: finite, and above `lo` (or at it, unless `open`) and at most `hi`.
CLI::Validator bounded(double lo, bool open, double hi, std::string bound) {
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "not a number: " + input;
        if (std::isfinite(value) && (open ? value > lo : value >= lo) && value <= hi) return {};
        return cat("must be ", bound, ", found ", input);
      },
      bound);
}

}  // namespace

CLI::Validator positive(double hi) {
  return bounded(0, true, hi,
                 std::isinf(hi) ? std::string("> 0") : "in (0, " + number_text(hi) + "]");
}
CLI::Validator non_negative(double hi) {
  return bounded(0, false, hi,
                 std::isinf(hi) ? std::string(">= 0") : "in [0, " + number_text(hi) + "]");
}
CLI::Validator in_range(double lo, double hi) {
  return bounded(lo, false, hi, "in [" + number_text(lo) + ", " + number_text(hi) + "]");
}

void add_workers_option(CLI::App* cmd, int& workers) {
  cmd->add_option("--workers", workers,
                  "CPU: forwards run side by side on one thread each, a batch split between them "
                  "(0: one per thread; 1: one forward on all threads)")
      ->capture_default_str()
      ->check(non_negative(1024));
}

namespace {

// CLI11 2.1 reads config files only for the top-level app, so a subcommand's --config FILE is
// expanded here into the options it holds, placed before the command line's own (which win).
std::vector<std::string> expand_config(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string file;
    if (args[i] == "--config" && i + 1 < args.size())
      file = args[i + 1];
    else if (args[i].rfind("--config=", 0) == 0)
      file = args[i].substr(9);
    else
      continue;
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_file(file);
    } catch (const CLI::FileError& e) {
      throw tinybert::Error(tinybert::cat("--config ", file, ": ", e.what()));
    }
    std::vector<std::string> expanded;
    for (const auto& item : items) {
      if (!item.parents.empty() && item.parents != std::vector<std::string>{args[0]}) continue;
      if (item.inputs.size() == 1 && (item.inputs[0] == "true" || item.inputs[0] == "false")) {
        if (item.inputs[0] == "true") expanded.push_back("--" + item.name);
        continue;
      }
      expanded.push_back("--" + item.name);
      expanded.insert(expanded.end(), item.inputs.begin(), item.inputs.end());
    }
    args.insert(args.begin() + 1, expanded.begin(), expanded.end());
    break;
  }
  return args;
}

}  // namespace

c10::Device start_runtime(const CommonOptions& common) {
  runtime::tune_allocator();
  runtime::set_threads(common.threads);
  c10::Device device = runtime::parse_device(common.device);
  runtime::report(std::cerr, device);
  return device;
}

}  // namespace tinybert::cli

int main(int argc, char** argv) {
  using namespace tinybert::cli;
  CLI::App app{"tinybert: TinyBERT knowledge distillation and serving"};
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", "tinybert 0.1.0");
  std::vector<std::pair<CLI::App*, Runner>> commands;
  auto add = [&](Runner r) { commands.emplace_back(app.get_subcommands({}).back(), std::move(r)); };
  add(add_tokenize(app));
  add(add_inspect(app));
  add(add_predict(app));
  add(add_info(app));
  add(add_finetune(app));
  add(add_distill(app));
  add(add_eval(app));
  add(add_augment(app));
  add(add_bench(app));
  add(add_pretrain(app));
  add(add_serve(app));
  add(add_init(app));
  add(add_export(app));
  add(add_quantize(app));
  try {
    auto args = expand_config(argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes the vector back to front
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tinybert::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  try {
    for (auto& [cmd, run] : commands) {
      if (!cmd->parsed()) continue;
      if (const auto* launch = launch_requested(*cmd))
        return tinybert::runtime::launch(*launch, worker_args(argc, argv));
      return run();
    }
  } catch (const tinybert::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {  // what() would add a C++ backtrace
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
