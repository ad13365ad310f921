// tinybert inspect: run a model in eval mode on inputs from a safetensors file and write every
// hidden state, attention score and probability, and the heads' logits.
#include <torch/torch.h>

#include <iostream>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/io/tensor_file.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::cli {

Runner add_inspect(CLI::App& app) {
  struct Options {
    std::string model, inputs, output;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("inspect", "dump a model's activations for given inputs (parity checks)");
  cmd->add_option("--model", o->model, "HF-format model directory")->required();
  cmd->add_option("--inputs", o->inputs,
                  "safetensors with int64 input_ids, token_type_ids, attention_mask [B, T]")
      ->required();
  cmd->add_option("--output", o->output, "safetensors to write")->required();
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    auto loaded = model::load_model(o->model, {.device = device, .allow_int8 = true});
    std::cerr << loaded.report.summary();
    auto file = io::SafetensorsFile::load(o->inputs);
    auto input = [&](const char* name, bool required) -> torch::Tensor {
      const io::TensorInfo* info = file.find(name);
      if (!info) {
        if (required) fail(o->inputs, ": no tensor \"", name, "\"");
        return {};
      }
      if (info->dtype != io::DType::I64 || info->shape.size() != 2)
        fail(o->inputs, ": \"", name, "\" must be int64 [B, T], found ",
             io::dtype_name(info->dtype), " with ", info->shape.size(), " dimensions");
      return io::to_tensor(file, *info).to(device);
    };
    model::BertInputs in{input("input_ids", true), input("token_type_ids", false),
                         input("attention_mask", false)};
    for (auto* t : {&in.token_type_ids, &in.attention_mask})
      if (t->defined() && t->sizes() != in.input_ids.sizes())
        fail(o->inputs, ": inputs must all have the shape of input_ids");
    const auto& c = loaded.model->config;
    auto check_range = [&](const char* name, const torch::Tensor& t, int64_t end) {
      if (t.defined() && t.numel() > 0 &&
          (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= end))
        fail(o->inputs, ": \"", name, "\" must hold values in 0..", end - 1, ", found ",
             t.min().item<int64_t>(), "..", t.max().item<int64_t>());
    };
    check_range("input_ids", in.input_ids, c.vocab_size);
    check_range("token_type_ids", in.token_type_ids, c.type_vocab_size);
    check_range("attention_mask", in.attention_mask, 2);
    if (in.input_ids.size(1) > c.max_position_embeddings)
      fail(o->inputs, ": ", in.input_ids.size(1), " positions, the model has ",
           c.max_position_embeddings);
    torch::InferenceMode guard;
    auto out = loaded.model->forward(
        in, {.hidden_states = true, .attention_scores = true, .attention_probs = true});
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    auto add = [&](const std::string& name, const torch::Tensor& t) {
      if (t.defined()) tensors.emplace_back(name, t.to(torch::kCPU, torch::kFloat));
    };
    for (size_t i = 0; i < out.bert.hidden_states.size(); ++i)
      add("hidden_states." + std::to_string(i), out.bert.hidden_states[i]);
    for (size_t l = 0; l < out.bert.attention_scores.size(); ++l) {
      add("attention_scores." + std::to_string(l), out.bert.attention_scores[l]);
      add("attention_probs." + std::to_string(l), out.bert.attention_probs[l]);
    }
    add("logits", out.logits);
    add("mlm_logits", out.mlm_logits);
    add("nsp_logits", out.nsp_logits);
    io::save_tensors(o->output, tensors);
    std::cerr << "wrote " << tensors.size() << " tensors to " << o->output << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
