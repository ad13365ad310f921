// Task loading for the training commands, and label checks.
#include "tinybert/data/task_data.h"

#include <filesystem>
#include <iostream>

#include "tinybert/core/error.h"
#include "tinybert/model/config.h"

namespace tinybert::data {

TaskData load_task(const std::string& task, const std::string& dir, const text::Tokenizer& tok,
                   size_t max_length, const std::vector<std::string>& labels, bool regression,
                   const std::string& train_file) {
  namespace fs = std::filesystem;
  TaskData d;
  d.spec = task_spec(task);
  if (regression) {
    if (d.spec.name != "generic")
      fail("--regression applies to the generic task only (", task, " has its own type)");
    d.spec.regression = true;
  }
  if (!labels.empty()) {
    if (d.spec.name != "generic")
      fail("--labels applies to the generic task only (", task, " has a fixed label order)");
    model::check_unique_labels(labels, "--labels");
    d.spec.labels = labels;
  }
  ReadReport r;
  if (train_file.empty()) {
    d.train_rows = read_split(d.spec, dir, "train", &r);
  } else {
    fs::path p(train_file);
    std::string split = p.stem().string();
    d.train_rows = read_split(d.spec, p.parent_path().string(), split, &r);
  }
  std::cerr << "train: " << r.path << ": " << r.rows << " examples"
            << (r.skipped ? cat(", ", r.skipped, " malformed rows skipped") : "") << "\n";
  const std::string train_path = r.path;
  d.dev_rows = read_split(d.spec, dir, "dev", &r);
  std::cerr << "dev: " << r.path << ": " << r.rows << " examples\n";
  d.train = Dataset::encode(d.train_rows, d.spec, tok, max_length, train_path);
  d.dev = Dataset::encode(d.dev_rows, d.spec, tok, max_length, r.path);
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
