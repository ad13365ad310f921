// Tasks: the GLUE tasks as their official TSVs lay them out, a generic TSV/JSONL task (text,
// optional text_pair, label), and token classification (CoNLL or JSONL, data/tagging.h); each
// with its labels in an explicit order and its metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tinybert::data {

struct Example {
  std::string text_a;
  std::optional<std::string> text_b;
  std::string label;  // the label's name, or the value for regression; "" for unlabeled test rows
  size_t line = 0;    // line in the source file, for messages
};

// What is predicted: a class or a value per input, a class per token, or an answer span of the
// context (task/task.h owns how).
enum class TaskKind { Classification, Regression, TokenClassification, QuestionAnswering };

// Extractive QA: how contexts are windowed and answers searched (HF run_qa's options).
struct QaSettings {
  std::optional<size_t>
      doc_stride;                  // context tokens consecutive windows share (see QaWindowOptions)
  size_t max_query_length = 64;    // question pieces kept
  int64_t n_best = 20;             // start and end candidates per window
  int64_t max_answer_length = 30;  // tokens
  double null_threshold = 0.0;     // v2.0: "no answer" wins by more than this (score difference)
  bool unanswerable = false;       // v2.0: questions may have no answer
};

struct TaskSpec {
  std::string name;  // "mnli", "sst-2", ..., "generic", "conll"
  TaskKind kind = TaskKind::Classification;
  std::vector<std::string> labels;   // explicit order (ids); empty for generic until data is read
  std::vector<std::string> metrics;  // "accuracy", "f1", "mcc", "pearson", "spearman", "macro_f1",
                                     // "precision", "recall"
  std::string main_metric;           // the one that picks the best checkpoint
  std::string dev_split = "dev";     // "dev_matched" for MNLI
  bool pair = false;                 // two text columns
  QaSettings qa;                     // question answering only
};

// The task's spec by name, case-insensitive: cola, sst-2 (sst2), mrpc, sts-b (stsb), qqp, mnli,
// mnli-mm, qnli, rte, wnli, "generic", "conll" (token classification; its labels and metrics
// are set by set_tag_labels once the data is read), or "squad" / "squad_v2" (question answering:
// SQuAD v1.1, and v2.0 with unanswerable questions). Unknown names fail listing the known ones.
TaskSpec task_spec(const std::string& name);

// A token-classification spec's labels (collect_tags order unless already set) and metrics:
// entity precision/recall/F1 (main: f1) for IOB2/BIOES tags, token accuracy only otherwise.
void set_tag_labels(TaskSpec& spec, const std::vector<std::string>& tags);

// Counts of what reading a split saw.
struct ReadReport {
  std::string path;
  size_t rows = 0, skipped = 0;  // skipped: malformed rows the task's convention drops (QQP)
};

// Reads DIR/{split}.tsv (or .jsonl for the generic task). Malformed rows fail with the file and
// line; for the generic task, labels are collected (sorted) when spec.labels is empty.
std::vector<Example> read_split(TaskSpec& spec, const std::string& dir, const std::string& split,
                                ReadReport* report = nullptr);

// Where a GLUE TSV keeps its texts: column indices (b = -1: no second text), whether the first
// line is a header, and the fewest columns a valid row has.
struct TextColumns {
  int a = 0, b = -1;
  bool header = true;
  size_t min_columns = 1;
};
TextColumns glue_text_columns(const TaskSpec& spec, const std::string& split);

// The columns a generic TSV's header line names (-1: absent); fails, naming the file, without a
// "text" column (or a "label" column when `need_label`).
struct GenericColumns {
  int text = -1, text_pair = -1, label = -1;
  size_t columns = 0;
};
GenericColumns generic_columns(const std::string& header, const std::string& path, bool need_label);

// A line split at tabs.
std::vector<std::string> split_tabs(const std::string& line);

// One JSON line {"text": ..., "text_pair": ... (optional), ...}, checked; errors say
// "WHERE line N: ...".
struct TextLine {
  nlohmann::ordered_json object;
  std::string text;
  std::optional<std::string> text_pair;
};
TextLine parse_text_line(const std::string& line, size_t line_no, const std::string& where);
TextLine parse_text_line(nlohmann::ordered_json object, size_t line_no, const std::string& where);
// An input line of predict: {"text", "text_pair"} as parse_text_line, or {"question", "context"}
// (question answering: text = question, text_pair = context).
TextLine parse_input_line(const std::string& line, size_t line_no, const std::string& where);

// Value of a regression example's label, failing with the line unless it is a finite number.
double label_value(const Example& e, const std::string& source);

// Label id of an example (classification), failing with the line for an unknown label.
int64_t label_id(const TaskSpec& spec, const Example& e, const std::string& source);

}  // namespace tinybert::data
