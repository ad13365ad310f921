// tinybert quantize: an fp32 model -> int8 (encoder Linear layers; weights per output channel,
// activations per call), an HF-format directory that predict, eval, bench, serve and export load.
#include <iostream>

#include "commands.h"
#include "tinybert/deploy/quantize.h"

namespace tinybert::cli {

Runner add_quantize(CLI::App& app) {
  struct Options {
    std::string model, output;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "quantize",
      "write a model's int8 form (dynamic quantization of the encoder's Linear layers)");
  cmd->add_option("--model", o->model, "HF-format fp32 model directory")->required();
  cmd->add_option("--output", o->output, "directory to write (a new one, or a model's)")
      ->required();
  add_common_options(cmd, o->common);
  return [o]() {
    start_runtime(o->common);
    const auto r = deploy::quantize_model(o->model, o->output);
    std::cerr << "wrote " << o->output << ": " << r.layers << " Linear layers in int8 (engine "
              << r.engine << "), model.safetensors " << r.bytes_before / 1024 << " KiB -> "
              << r.bytes_after / 1024 << " KiB, max weight error " << r.max_weight_error << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
