// tinybert predict: JSON lines {"text", "text_pair"} on stdin -> one answer a line, as serve
// answers each input: {"label", "score", "scores"}, {"value"} (regression) or {"entities"} (token
// classification).
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/data/task.h"
#include "tinybert/infer/predictor.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::cli {

Runner add_predict(CLI::App& app) {
  struct Options {
    std::string model, dtype = "fp32";
    size_t max_length = 128, batch_size = 32;
    bool allow_untrained_head = false;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "predict", "classify JSON lines from stdin with a sequence-classification model");
  cmd->add_option("--model", o->model, "HF-format BertForSequenceClassification directory")
      ->required();
  cmd->add_option("--max-length", o->max_length, "truncate inputs to this many tokens")
      ->capture_default_str()
      ->check(in_range(2, 1 << 20));
  cmd->add_option("--batch-size", o->batch_size, "lines per forward pass")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--dtype", o->dtype, "fp32 | bf16 | fp16 (GPU)")->capture_default_str();
  cmd->add_flag("--allow-untrained-head", o->allow_untrained_head,
                "use a classifier whose checkpoint lacks its head (random predictions)");
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    infer::Predictor predictor(o->model, {.device = device,
                                          .dtype = runtime::parse_dtype(o->dtype, device),
                                          .max_length = o->max_length,
                                          .allow_untrained_head = o->allow_untrained_head});
    std::cerr << predictor.load_summary;
    std::vector<text::Encoding> batch;
    std::vector<std::string> texts;
    auto flush = [&]() {
      std::vector<const text::Encoding*> rows;
      for (const auto& e : batch) rows.push_back(&e);
      const auto predictions = predictor.predict(rows, o->batch_size);
      for (size_t i = 0; i < predictions.size(); ++i)
        std::cout << predictor.render(predictions[i], batch[i], texts[i]).dump() << "\n";
      batch.clear();
      texts.clear();
    };
    std::string line;
    size_t line_no = 0;
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line.empty()) continue;
      auto r = data::parse_text_line(line, line_no, "stdin");
      try {
        batch.push_back(predictor.encode(
            r.text, r.text_pair ? std::optional<std::string_view>(*r.text_pair) : std::nullopt));
      } catch (const Error& e) {
        fail("stdin line ", line_no, ": ", e.what());
      }
      texts.push_back(std::move(r.text));
      if (batch.size() == o->batch_size) flush();
    }
    flush();
    return 0;
  };
}

}  // namespace tinybert::cli
