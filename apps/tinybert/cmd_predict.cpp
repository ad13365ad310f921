// tinybert predict: JSON lines {"text", "text_pair"} on stdin -> {"label", "scores"} per line.
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/data/dataset.h"
#include "tinybert/data/task.h"
#include "tinybert/io/checkpoint.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::cli {

Runner add_predict(CLI::App& app) {
  struct Options {
    std::string model, dtype = "fp32";
    size_t max_length = 128, batch_size = 32;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "predict", "classify JSON lines from stdin with a sequence-classification model");
  cmd->add_option("--model", o->model, "HF-format BertForSequenceClassification directory")
      ->required();
  cmd->add_option("--max-length", o->max_length, "truncate inputs to this many tokens")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "lines per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", o->dtype, "fp32 | bf16 | fp16 (GPU)")->capture_default_str();
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    auto dtype = runtime::parse_dtype(o->dtype, device);
    auto loaded = io::load_model(o->model, {.device = device, .dtype = dtype});
    auto& model = *loaded.model;
    if (model.config.architecture != model::Architecture::SequenceClassification)
      fail(o->model, " is a ", model::architecture_name(model.config.architecture),
           "; predict needs a BertForSequenceClassification");
    std::cerr << loaded.report.summary();
    auto tok = text::Tokenizer::from_dir(o->model);
    const size_t max_len = std::min<size_t>(o->max_length, model.config.max_position_embeddings);

    std::vector<text::Encoding> batch;
    auto flush = [&]() {
      if (batch.empty()) return;
      torch::InferenceMode guard;
      auto logits = model.forward(data::to_inputs(batch, tok.vocab().pad_id, device))
                        .logits.to(torch::kCPU, torch::kFloat);  // (B, num_labels)
      const bool regression = model.config.is_regression();
      auto scores = regression ? logits : torch::softmax(logits, -1);
      for (int64_t i = 0; i < static_cast<int64_t>(batch.size()); ++i) {
        auto row = scores[i];
        std::vector<float> s(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
        nlohmann::json out;
        if (regression)
          out["label"] = s[0];
        else
          out["label"] = model.config.labels[row.argmax().item<int64_t>()];
        out["scores"] = s;
        std::cout << out.dump() << "\n";
      }
      batch.clear();
    };
    std::string line;
    size_t line_no = 0;
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line.empty()) continue;
      auto r = data::parse_text_line(line, line_no, "stdin");
      try {
        batch.push_back(tok.encode(
            r.text, r.text_pair ? std::optional<std::string_view>(*r.text_pair) : std::nullopt,
            max_len));
      } catch (const Error& e) {
        fail("stdin line ", line_no, ": ", e.what());
      }
      if (batch.size() == o->batch_size) flush();
    }
    flush();
    return 0;
  };
}

}  // namespace tinybert::cli
