// tinybert predict: JSON lines {"text", "text_pair"} (or {"question", "context"}) on stdin -> one
// answer a line, as serve answers each input: {"label", "score", "scores"}, {"value"}
// (regression), {"entities"} (token classification) or {"answer", "start", "end", "score"}
// (question answering).
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/data/task.h"
#include "tinybert/infer/predictor.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::cli {

namespace {

task::Input input_of(const data::TextLine& l) {
  return {l.text, l.text_pair ? std::optional<std::string_view>(*l.text_pair) : std::nullopt};
}

}  // namespace

Runner add_predict(CLI::App& app) {
  struct Options {
    std::string model, dtype = "fp32";
    size_t max_length = 128, batch_size = 32;
    bool allow_untrained_head = false, tokens = false;
    data::QaSettings qa;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "predict", "answer JSON lines from stdin with a trained model (one answer a line)");
  cmd->add_option("--model", o->model,
                  "HF-format BertForSequenceClassification, BertForTokenClassification or "
                  "BertForQuestionAnswering directory")
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
  cmd->add_flag("--tokens", o->tokens,
                "token classifiers: each word's tag, score and characters too, not only entities");
  add_answer_options(cmd, o->qa);
  add_common_options(cmd, o->common);
  return [o]() {
    c10::Device device = start_runtime(o->common);
    infer::Predictor predictor(o->model, {.device = device,
                                          .dtype = runtime::parse_dtype(o->dtype, device),
                                          .max_length = o->max_length,
                                          .allow_untrained_head = o->allow_untrained_head,
                                          .qa = o->qa});
    std::cerr << predictor.load_summary;
    if (o->tokens && predictor.task().kind() != data::TaskKind::TokenClassification)
      fail("--tokens is for token_classification models; ", o->model, " is a ",
           predictor.task().name(), " model");
    infer::InputRows batch;  // the rows of the lines read
    std::vector<data::TextLine> lines;
    auto flush = [&]() {
      std::vector<const text::Encoding*> rows;
      for (const auto& e : batch.rows) rows.push_back(&e);
      const auto predictions = predictor.predict(rows, o->batch_size);
      for (size_t i = 0; i < lines.size(); ++i)
        std::cout << predictor.render(batch, predictions, i, input_of(lines[i]), o->tokens).dump()
                  << "\n";
      batch.clear();
      lines.clear();
    };
    std::string line;
    size_t line_no = 0;
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line.empty()) continue;
      lines.push_back(data::parse_input_line(line, line_no, "stdin"));
      try {
        batch.add(predictor.encode(input_of(lines.back())));
      } catch (const Error& e) {
        fail("stdin line ", line_no, ": ", e.what());
      }
      if (batch.rows.size() >= o->batch_size) flush();
    }
    flush();
    return 0;
  };
}

}  // namespace tinybert::cli
