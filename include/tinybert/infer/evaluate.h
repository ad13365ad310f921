// A classifier's predictions and task metrics on an encoded dataset, through the same forward
// (model::infer) and decoding (Task::decode) as predict and serve.
#pragma once

#include <c10/core/Device.h>

#include <map>
#include <string>
#include <vector>

#include "tinybert/data/dataset.h"
#include "tinybert/infer/predictor.h"
#include "tinybert/model/heads.h"

namespace tinybert::infer {

// One prediction per row of `d`, in batches of `batch_size`, in eval mode (the model's mode is
// restored after). Polls stop_requested() between batches and throws Interrupted.
std::vector<Prediction> predict(model::AutoBertImpl& m, const data::Dataset& d, int64_t batch_size,
                                c10::Device device);

// The task's metrics of `m` on a labeled dataset.
std::map<std::string, double> evaluate(model::AutoBertImpl& m, const data::Dataset& d,
                                       const data::TaskSpec& spec, int64_t batch_size,
                                       c10::Device device);

// What `tinybert eval` reports: a model directory's metrics on a split of a task directory.
struct SplitEvaluation {
  std::string path;  // the file read
  size_t examples = 0;
  size_t cut_words = 0;  // token classification: words past max_length (scored as "O")
  data::TaskSpec spec;
  std::map<std::string, double> metrics;
};
// Loads the classifier in `model_dir` (its labels checked against the task's; a generic or conll
// task takes the model's), reads DIR/SPLIT and evaluates.
SplitEvaluation evaluate_split(const std::string& model_dir, const std::string& task,
                               const std::string& data_dir, const std::string& split,
                               int64_t batch_size, int64_t max_length, c10::Device device,
                               const data::QaSettings& qa = {});

// A dev set and how to score it.
struct DevSet {
  const data::Dataset* data = nullptr;  // null: no evaluation
  data::TaskSpec spec;
  int64_t batch_size = 64;
};

}  // namespace tinybert::infer
