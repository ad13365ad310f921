// Task loading for the training commands, and label checks.
#include "tinybert/data/task_data.h"

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/model/config.h"

namespace tinybert::data {

nlohmann::json TaskSource::to_json() const {
  return {{"task", task},     {"data", data_dir},         {"train_file", train_file},
          {"labels", labels}, {"regression", regression}, {"label_all_pieces", label_all_pieces}};
}

namespace {

// The split's file: DIR/SPLIT, or `train_file` for the train split when given.
std::pair<std::string, std::string> split_location(const TaskSource& src,
                                                   const std::string& split) {
  if (split != "train" || src.train_file.empty()) return {src.data_dir, split};
  std::filesystem::path p(src.train_file);
  return {p.parent_path().string(), p.stem().string()};
}

// A token-classification split, read and encoded; the labels come from the train split.
Dataset load_tagged(TaskSpec& spec, const TaskSource& src, const std::string& split,
                    const text::Tokenizer& tok, size_t max_length) {
  auto [dir, name] = split_location(src, split);
  std::string path;
  auto sentences = read_tagged_split(dir, name, path);
  if (sentences.empty()) fail(path, " has no sentences");
  if (sentences.front().tags.empty()) fail(path, ": the ", split, " split needs tags");
  if (split == "train") set_tag_labels(spec, collect_tags(sentences));
  auto d = Dataset::encode_tagged(sentences, spec, tok, max_length, src.label_all_pieces, path);
  std::cerr << split << ": " << path << ": " << sentences.size() << " sentences"
            << (d.cut_words() ? cat(", ", d.cut_words(), " words past --max-length ", max_length,
                                    " (no prediction: scored as \"O\" in evaluation)")
                              : "")
            << "\n";
  return d;
}

// A sequence-level split (GLUE or generic), read and encoded.
Dataset load_rows(TaskSpec& spec, const TaskSource& src, const std::string& split,
                  const text::Tokenizer& tok, size_t max_length) {
  auto [dir, name] = split_location(src, split);
  ReadReport r;
  auto rows = read_split(spec, dir, name, &r);
  std::cerr << split << ": " << r.path << ": " << r.rows << " examples"
            << (r.skipped ? cat(", ", r.skipped, " malformed rows skipped") : "") << "\n";
  return Dataset::encode(rows, spec, tok, max_length, r.path);
}

}  // namespace

TaskData load_task(const TaskSource& src, const text::Tokenizer& tok, size_t max_length) {
  TaskData d;
  d.spec = task_spec(src.task);
  if (src.regression) {
    if (d.spec.name != "generic")
      fail("--regression applies to the generic task only (", src.task, " has its own type)");
    d.spec.kind = TaskKind::Regression;
  }
  if (!src.labels.empty()) {
    if (d.spec.name != "generic" && d.spec.name != "conll")
      fail("--labels applies to the generic and conll tasks only (", src.task,
           " has a fixed label order)");
    model::check_unique_labels(src.labels, "--labels");
    d.spec.labels = src.labels;
  }
  if (src.label_all_pieces && d.spec.kind != TaskKind::TokenClassification)
    fail("--label-all-pieces applies to token classification (--task conll) only");
  auto load = d.spec.kind == TaskKind::TokenClassification ? load_tagged : load_rows;
  d.train = load(d.spec, src, "train", tok, max_length);
  d.dev = load(d.spec, src, "dev", tok, max_length);
  return d;
}

void check_labels(const std::vector<std::string>& model_labels, const TaskSpec& spec,
                  const std::string& who) {
  if (model_labels == spec.labels) return;
  if (model_labels == model::default_labels(static_cast<int64_t>(spec.labels.size()))) {
    std::cerr << "notice: " << who << " has no label names (" << model::label_list(model_labels)
              << "); assuming the task's order " << model::label_list(spec.labels) << "\n";
    return;
  }
  fail(who, " was trained with labels ", model::label_list(model_labels),
       " but the task's labels are ", model::label_list(spec.labels),
       "; a different label order gives silently wrong results");
}

}  // namespace tinybert::data
