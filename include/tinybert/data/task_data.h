// A task's train and dev splits read, checked and encoded for training, and the check that a
// model's labels are the task's.
#pragma once

#include <string>
#include <vector>

#include "tinybert/data/dataset.h"
#include "tinybert/data/task.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::data {

// A task's train and dev splits read and encoded (labels checked), for the training commands.
struct TaskData {
  TaskSpec spec;
  std::vector<Example> train_rows, dev_rows;
  Dataset train, dev;
};
// Reads DIR/train and DIR/dev (the task's dev split). `labels`, when given, fixes the label order
// (generic tasks); `train_file` replaces DIR/train (e.g. an augmented file).
TaskData load_task(const std::string& task, const std::string& dir, const text::Tokenizer& tok,
                   size_t max_length, const std::vector<std::string>& labels, bool regression,
                   const std::string& train_file = "");

// Fails unless `model_labels` name the task's labels in the task's order (a model saved with HF's
// default LABEL_i names and the same count is accepted, with a notice).
void check_labels(const std::vector<std::string>& model_labels, const TaskSpec& spec,
                  const std::string& who);

}  // namespace tinybert::data
