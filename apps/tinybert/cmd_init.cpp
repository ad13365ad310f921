// tinybert init: a randomly initialised model directory from a config.json and a vocabulary
// (a student to distill into, or a model to benchmark).
#include <torch/torch.h>

#include <iostream>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/model/heads.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::cli {

Runner add_init(CLI::App& app) {
  struct Options {
    std::string config, vocab, output;
    std::vector<std::string> labels;
    uint64_t seed = 42;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("init", "write a randomly initialised HF-format model directory");
  cmd->add_option("--model-config", o->config, "config.json giving the shape (and architecture)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--vocab", o->vocab, "vocab.txt")->required()->check(CLI::ExistingFile);
  cmd->add_option("--output", o->output, "model directory to write")->required();
  cmd->add_option("--labels", o->labels, "class names: makes a BertForSequenceClassification")
      ->delimiter(',');
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  return [o]() {
    auto cfg = model::BertConfig::load(o->config);
    if (!o->labels.empty()) {
      cfg.labels = o->labels;
      cfg.architecture = model::Architecture::SequenceClassification;
      cfg.validate("--labels");
    }
    auto tok = text::Tokenizer::from_vocab(o->vocab);
    if (static_cast<int64_t>(tok.vocab().size()) != cfg.vocab_size)
      fail(o->vocab, " has ", tok.vocab().size(), " entries but ", o->config, " says vocab_size ",
           cfg.vocab_size);
    auto m = model::init_model(cfg, o->seed);
    model::save_model(*m, tok, o->output);
    std::cout << "wrote " << model::architecture_name(cfg.architecture) << " (random init) to "
              << o->output << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
