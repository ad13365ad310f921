// tinybert info: the runtime (LibTorch, device, threads, BLAS) and, given a model, its shape.
#include <torch/torch.h>

#include <iostream>

#include "commands.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::cli {

Runner add_info(CLI::App& app) {
  struct Options {
    std::string model;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "info", "print the runtime and, with --model, a model's architecture and size");
  cmd->add_option("--model", o->model, "HF-format model directory");
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    if (o->model.empty()) return 0;
    auto loaded = model::load_model(o->model, {.device = device, .allow_int8 = true});
    std::cerr << loaded.report.summary();
    const auto& c = loaded.model->config;
    int64_t params = 0;
    for (const auto& p : loaded.model->parameters()) params += p.numel();
    std::cout << nlohmann::ordered_json{{"architecture", model::architecture_name(c.architecture)},
                                        {"layers", c.num_hidden_layers},
                                        {"hidden", c.hidden_size},
                                        {"heads", c.num_attention_heads},
                                        {"intermediate", c.intermediate_size},
                                        {"vocab", c.vocab_size},
                                        {"labels", c.labels},
                                        {"parameters", params}}
                     .dump(2)
              << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
