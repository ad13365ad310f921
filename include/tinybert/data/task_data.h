// A task's train and dev splits read, checked and encoded for training, and the check that a
// model's labels are the task's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tinybert/data/dataset.h"
#include "tinybert/data/task.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::data {

// Where a training command's task comes from: the options finetune and distill share.
struct TaskSource {
  std::string task, data_dir;       // task name; directory with the train and dev splits
  std::string train_file;           // replaces DATA/train when given (e.g. an augmented file)
  std::vector<std::string> labels;  // generic and conll tasks: label order (default: sorted)
  bool regression = false;          // generic task: labels are numbers
  bool label_all_pieces = false;    // token classification: label every piece of a word
  QaSettings qa;                    // question answering (its `unanswerable` comes from the task)
  nlohmann::json to_json() const;   // for the saved settings
};

// A task's train and dev splits read and encoded (labels checked), for the training commands.
struct TaskData {
  TaskSpec spec;
  Dataset train, dev;
};
// One split (DIR/SPLIT) read and encoded by the task's kind: CoNLL/JSONL tags (their tags set the
// labels when the spec has none, and the metrics) or text rows. Prints the file and its size.
struct SplitData {
  Dataset data;
  std::string path;  // the file read
  size_t examples = 0;
};
SplitData load_split(TaskSpec& spec, const std::string& dir, const std::string& split,
                     const text::Tokenizer& tok, size_t max_length, bool all_pieces = false);

// Reads the train split (or src.train_file) and the task's dev split, and encodes them.
TaskData load_task(const TaskSource& src, const text::Tokenizer& tok, size_t max_length);

// Sets a question-answering spec's window and answer-search options from the command's, keeping
// `unanswerable`, which the task (squad_v2) decides.
void set_qa_settings(TaskSpec& spec, const QaSettings& qa);

// Fails unless `model_labels` name the task's labels in the task's order (a model saved with HF's
// default LABEL_i names and the same count is accepted, with a notice).
void check_labels(const std::vector<std::string>& model_labels, const TaskSpec& spec,
                  const std::string& who);

}  // namespace tinybert::data
