// tinybert augment: TinyBERT data augmentation of a task file, streamed, resumable, written in
// the input's own format (GLUE TSV, generic TSV or JSONL): each original row, then its variants.
#include <optional>

#include "tinybert/augment/augment_file.h"
#include "tinybert/core/json.h"
#include "tinybert/model/pretrained.h"
#include "train_options.h"

namespace tinybert::cli {

Runner add_augment(CLI::App& app) {
  struct Options {
    std::string model, glove;
    int64_t glove_max_words = 0;
    augment::AugmentJob job;
    runtime::LaunchConfig launch;
    int dist_timeout = 60;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("augment", "TinyBERT data augmentation (MLM + word-vector replacement)");
  cmd->add_option("--model", o->model,
                  "masked-LM model directory (pre-trained BERT, e.g. the teacher's)")
      ->required();
  cmd->add_option("--task", o->job.task, "GLUE task name, generic or conll (sets the file layout)")
      ->required();
  cmd->add_option("--input", o->job.input, "task file to augment (e.g. DATA/train.tsv)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", o->job.output, "augmented file to write (same format)")->required();
  cmd->add_option("--n-aug", o->job.config.n_aug, "N_a: tries per row")
      ->capture_default_str()
      ->check(positive(10000));
  cmd->add_option("--p", o->job.config.p, "p_t: replacement probability per word")
      ->capture_default_str()
      ->check(in_range(0, 1));
  cmd->add_option("--k", o->job.config.k, "K: candidates per word")
      ->capture_default_str()
      ->check(positive(10000));
  cmd->add_option(
      "--glove", o->glove,
      "GloVe-format word vectors for multi-piece words (default: the MLM's embeddings)");
  cmd->add_option("--glove-max-words", o->glove_max_words,
                  "read only the first N GloVe words (0: all)")
      ->capture_default_str()
      ->check(non_negative(1e9));
  cmd->add_option("--batch-size", o->job.config.mlm_batch_size, "masked inputs per MLM forward")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--chunk-rows", o->job.chunk_rows, "rows whose words are batched together")
      ->capture_default_str()
      ->check(positive(1 << 20));
  cmd->add_option("--seed", o->job.seed, "random seed (same seed, same file)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->job.resume,
                "continue an interrupted run from its last completed row");
  add_launch_options(cmd, o->launch, o->dist_timeout);  // ranks augment parts of the file
  add_common_options(cmd, o->common);
  return [o]() {
    nlohmann::json settings = {{"model", o->model},     {"task", o->job.task},
                               {"input", o->job.input}, {"n_aug", o->job.config.n_aug},
                               {"p", o->job.config.p},  {"k", o->job.config.k},
                               {"glove", o->glove},     {"seed", o->job.seed}};
    print_settings("augment", settings);
    c10::Device device = start_runtime(o->common);
    join_group(device, o->dist_timeout);
    auto loaded = model::load_model(o->model, {.device = device});
    auto tok = text::Tokenizer::from_dir(o->model);
    std::optional<augment::WordVectors> glove;
    if (!o->glove.empty()) glove = augment::WordVectors::load(o->glove, o->glove_max_words);
    augment::Augmenter aug(loaded.model, tok, o->job.config, std::move(glove));
    augment::augment_file(o->job, aug, settings);
    return 0;
  };
}

}  // namespace tinybert::cli
