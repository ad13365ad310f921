// tinybert pretrain: masked-LM (and optionally next-sentence) pre-training of a BERT from random
// init or continued from a model, on a plain-text corpus with sequence packing; writes a
// BertForMaskedLM directory, or BertForPreTraining with --nsp.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/distill/objectives.h"
#include "tinybert/io/checkpoint.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_pretrain(CLI::App& app) {
  struct Options {
    std::string corpus, eval_corpus, model_config, model, vocab;
    double mask_prob = 0.15;
    bool whole_word = false, nsp = false;
    TrainOptions t;
  };
  auto o = std::make_shared<Options>();
  o->t.train.epochs = 1;
  o->t.train.lr = 1e-4;
  o->t.train.warmup = 0.06;
  auto* cmd = app.add_subcommand("pretrain",
                                 "masked-LM pre-training on a corpus (a teacher to distill from)");
  cmd->add_option("--corpus", o->corpus, "text, one sentence a line, blank line between documents")
      ->required();
  cmd->add_option("--eval-corpus", o->eval_corpus,
                  "held-out text in the same format: MLM accuracy on it");
  cmd->add_option("--model-config", o->model_config, "config.json of a new model (random init)");
  cmd->add_option("--model", o->model, "or: continue pre-training this model directory");
  cmd->add_option("--vocab", o->vocab, "vocab.txt for a new model");
  cmd->add_option("--mask-prob", o->mask_prob, "fraction of tokens predicted")
      ->capture_default_str()
      ->check(in_range(0.001, 0.999));
  cmd->add_flag("--whole-word-mask", o->whole_word, "mask whole words (all their pieces) together");
  cmd->add_flag("--nsp", o->nsp,
                "also train next-sentence prediction on sentence pairs cut from the corpus "
                "(BERT's second objective; trains the pooler): writes BertForPreTraining");
  add_train_options(cmd, o->t);
  return [o]() {
    if (o->model.empty() == o->model_config.empty())
      fail("give either --model-config (new model) or --model");
    if (!o->model_config.empty() && o->vocab.empty()) fail("a new model needs --vocab");
    auto settings = train_json(o->t);
    settings.update({{"corpus", o->corpus},
                     {"eval_corpus", o->eval_corpus},
                     {"model_config", o->model_config},
                     {"model", o->model},
                     {"vocab", o->vocab},
                     {"mask_prob", o->mask_prob},
                     {"whole_word_mask", o->whole_word},
                     {"nsp", o->nsp}});
    print_settings("pretrain", settings);
    c10::Device device = start_runtime(o->t.common);
    o->t.train = train_config(o->t, device);
    const auto architecture =
        o->nsp ? model::Architecture::PreTraining : model::Architecture::MaskedLM;
    model::AutoBert m{nullptr};
    std::optional<text::Tokenizer> tok;
    if (!o->model.empty()) {
      auto loaded = io::load_model(
          o->model, {.architecture = architecture, .device = device, .seed = o->t.train.seed});
      std::cerr << loaded.report.summary();
      m = loaded.model;
      tok = text::Tokenizer::from_dir(o->model);
    } else {
      auto cfg = model::BertConfig::load(o->model_config);
      cfg.architecture = architecture;
      m = model::init_model(cfg, o->t.train.seed);
      m->to(device);
      tok = text::Tokenizer::from_vocab(o->vocab);
    }
    if (o->t.max_length > m->config.max_position_embeddings)
      fail("--max-length ", o->t.max_length, " exceeds the model's max_position_embeddings ",
           m->config.max_position_embeddings);
    data::CorpusSource source(o->corpus, *tok, o->t.max_length, o->t.train.batch_size,
                              o->t.train.seed, device, o->nsp);
    std::cerr << "corpus: " << o->corpus << ": " << source.sequences()
              << (o->nsp ? " sentence pairs" : " packed sequences") << " of up to "
              << o->t.max_length << " tokens\n";
    std::optional<data::CorpusSource> eval;
    if (!o->eval_corpus.empty())
      eval.emplace(o->eval_corpus, *tok, o->t.max_length, o->t.eval_batch_size, 0, device, o->nsp);
    distill::PretrainObjective obj(m, *tok, o->mask_prob, o->whole_word, eval ? &*eval : nullptr,
                                   device);
    auto summary = distill::train(o->t.train, obj, source, settings);
    if (!summary.interrupted)
      std::cout << nlohmann::json{{"best", summary.best_metrics},
                                  {"model", o->t.train.output + "/best"}}
                       .dump()
                << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
