// tinybert: one binary, one subcommand per step of TinyBERT distillation and serving.
#include <iostream>
#include <vector>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::cli {

void add_common_options(CLI::App* cmd, CommonOptions& common) {
  cmd->add_option("--device", common.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", common.threads, "CPU threads (0: one per core)")->capture_default_str();
  cmd->set_config("--config", "", "read options from a TOML/INI file (keys as the long options)");
}

c10::Device start_runtime(const CommonOptions& common) {
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
  app.set_version_flag("--version", "tinybert 0.1.0");
  std::vector<std::pair<CLI::App*, Runner>> commands;
  auto add = [&](Runner r) { commands.emplace_back(app.get_subcommands({}).back(), std::move(r)); };
  add(add_tokenize(app));
  add(add_inspect(app));
  add(add_predict(app));
  add(add_info(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [cmd, run] : commands)
      if (cmd->parsed()) return run();
  } catch (const tinybert::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
