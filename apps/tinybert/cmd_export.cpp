// tinybert export: a model directory as ONNX (model.onnx with config.json and the tokenizer files
// beside it), to run in ONNX Runtime or any other ONNX runtime.
#include <iostream>

#include "commands.h"
#include "tinybert/deploy/onnx_export.h"

namespace tinybert::cli {

Runner add_export(CLI::App& app) {
  struct Options {
    std::string model, output;
    int64_t opset = 17;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("export", "write a model as ONNX (model.onnx + config + vocab)");
  cmd->add_option("--model", o->model, "HF-format model directory")->required();
  cmd->add_option("--output", o->output, "directory to write (created if missing)")->required();
  cmd->add_option("--opset", o->opset, "ONNX opset (17: LayerNormalization; 13-16 decompose it)")
      ->capture_default_str()
      ->check(in_range(13, 17));
  add_common_options(cmd, o->common);
  return [o]() {
    start_runtime(o->common);
    deploy::export_onnx(o->model, o->output, o->opset);
    std::cerr << "wrote " << o->output << "/model.onnx (opset " << o->opset << ")\n";
    return 0;
  };
}

}  // namespace tinybert::cli
