// tinybert pretrain: masked-LM (and next-sentence) pre-training of a BERT on raw text.
#include "tinybert/core/json.h"
#include "tinybert/train/pretrain.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_pretrain(CLI::App& app) {
  struct Options {
    train::PretrainJob job;
    TrainOptions t;
  };
  auto o = std::make_shared<Options>();
  o->t.train.epochs = 1;
  o->t.train.lr = 1e-4;
  o->t.train.warmup = 0.06;
  auto& j = o->job;
  auto* cmd = app.add_subcommand("pretrain",
                                 "masked-LM pre-training on a corpus (a teacher to distill from)");
  cmd->add_option("--corpus", j.corpus, "text, one sentence a line, blank line between documents")
      ->required();
  cmd->add_option("--eval-corpus", j.eval_corpus,
                  "held-out text in the same format: MLM accuracy on it");
  cmd->add_option("--model-config", j.model_config, "config.json of a new model (random init)");
  cmd->add_option("--model", j.model, "or: continue pre-training this model directory");
  cmd->add_option("--vocab", j.vocab, "vocab.txt for a new model");
  cmd->add_option("--mask-prob", j.mask_prob, "fraction of tokens predicted")
      ->capture_default_str()
      ->check(in_range(0.001, 0.999));
  cmd->add_flag("--whole-word-mask", j.whole_word, "mask whole words (all their pieces) together");
  cmd->add_flag("--nsp", j.nsp,
                "also train next-sentence prediction on sentence pairs cut from the corpus "
                "(BERT's second objective; trains the pooler): writes BertForPreTraining");
  add_train_options(cmd, o->t);
  return [o]() {
    auto& j = o->job;
    auto settings = train_json(o->t);
    settings.update({{"corpus", j.corpus},
                     {"eval_corpus", j.eval_corpus},
                     {"model_config", j.model_config},
                     {"model", j.model},
                     {"vocab", j.vocab},
                     {"mask_prob", j.mask_prob},
                     {"whole_word_mask", j.whole_word},
                     {"nsp", j.nsp}});
    print_settings("pretrain", settings);
    j.train = train_config(o->t, start_runtime(o->t.common));
    j.max_length = o->t.max_length;
    j.eval_batch_size = o->t.eval_batch_size;
    print_result(train::pretrain(j, settings), j.train.output);
    return 0;
  };
}

}  // namespace tinybert::cli
