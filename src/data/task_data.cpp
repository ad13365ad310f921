// Task loading for the training commands, and label checks.
#include "tinybert/data/task_data.h"

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/model/config.h"

namespace tinybert::data {

nlohmann::json TaskSource::to_json() const {
  return {{"task", task},
          {"data", data_dir},
          {"train_file", train_file},
          {"labels", labels},
          {"regression", regression},
          {"label_all_pieces", label_all_pieces},
          {"doc_stride", qa.doc_stride ? nlohmann::json(*qa.doc_stride) : nlohmann::json()},
          {"max_query_length", qa.max_query_length}};
}

namespace {

// The split's file: DIR/SPLIT, or `train_file` for the train split when given.
std::pair<std::string, std::string> split_location(const TaskSource& src,
                                                   const std::string& split) {
  if (split != "train" || src.train_file.empty()) return {src.data_dir, split};
  std::filesystem::path p(src.train_file);
  return {p.parent_path().string(), p.stem().string()};
}

}  // namespace

SplitData load_split(TaskSpec& spec, const std::string& dir, const std::string& split,
                     const text::Tokenizer& tok, size_t max_length, bool all_pieces) {
  SplitData d;
  if (spec.kind == TaskKind::TokenClassification) {
    auto sentences = read_tagged_split(dir, split, d.path);
    if (sentences.empty()) fail(d.path, " has no sentences");
    if (sentences.front().tags.empty()) fail(d.path, ": the ", split, " split needs tags");
    set_tag_labels(spec, collect_tags(sentences));
    d.data = Dataset::encode_tagged(sentences, spec, tok, max_length, all_pieces, d.path);
    d.examples = sentences.size();
    std::cerr << split << ": " << d.path << ": " << d.examples << " sentences"
              << (d.data.cut_words()
                      ? cat(", ", d.data.cut_words(), " words past --max-length ", max_length,
                            " (no prediction: scored as \"O\" in evaluation)")
                      : "")
              << "\n";
  } else if (spec.kind == TaskKind::QuestionAnswering) {
    auto questions = read_qa_split(dir, split, spec.qa.unanswerable, d.path);
    if (questions.empty()) fail(d.path, " has no questions");
    d.examples = questions.size();
    d.data = Dataset::encode_qa(std::move(questions), spec, tok, max_length);
    std::cerr << split << ": " << d.path << ": " << d.examples << " questions, " << d.data.size()
              << " windows of " << max_length << " tokens (doc stride "
              << (spec.qa.doc_stride ? std::to_string(*spec.qa.doc_stride) : std::string("auto"))
              << ")\n";
  } else {
    ReadReport r;
    auto rows = read_split(spec, dir, split, &r);
    d.path = r.path;
    d.examples = rows.size();
    std::cerr << split << ": " << r.path << ": " << r.rows << " examples"
              << (r.skipped ? cat(", ", r.skipped, " malformed rows skipped") : "") << "\n";
    d.data = Dataset::encode(rows, spec, tok, max_length, r.path);
  }
  return d;
}

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
  set_qa_settings(d.spec, src.qa);
  if (src.label_all_pieces && d.spec.kind != TaskKind::TokenClassification)
    fail("--label-all-pieces applies to token classification (--task conll) only");
  auto load = [&](const std::string& split) {
    auto [dir, name] = split_location(src, split);
    return load_split(d.spec, dir, name, tok, max_length, src.label_all_pieces).data;
  };
  d.train = load("train");  // first: a token task's labels come from it
  d.dev = load("dev");
  return d;
}

void set_qa_settings(TaskSpec& spec, const QaSettings& qa) {
  const bool unanswerable = spec.qa.unanswerable;
  spec.qa = qa;
  spec.qa.unanswerable = unanswerable;
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
