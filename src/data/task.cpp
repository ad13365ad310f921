// GLUE processors and the generic TSV/JSONL task.
#include "tinybert/data/task.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/data/entity_metrics.h"

namespace tinybert::data {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Column layout of a GLUE TSV: text a, text b (-1: none), label (-1: last column).
struct Layout {
  int a, b, label;
  bool header;
  size_t min_columns;
};

Layout glue_layout(const std::string& task, const std::string& split) {
  const bool test = split == "test" || split.rfind("test_", 0) == 0;
  if (task == "cola") return test ? Layout{1, -1, -2, true, 2} : Layout{3, -1, 1, false, 4};
  if (task == "sst-2") return test ? Layout{1, -1, -2, true, 2} : Layout{0, -1, 1, true, 2};
  if (task == "mrpc") return test ? Layout{3, 4, -2, true, 5} : Layout{3, 4, 0, true, 5};
  if (task == "sts-b") return test ? Layout{7, 8, -2, true, 9} : Layout{7, 8, -1, true, 10};
  if (task == "qqp") return test ? Layout{1, 2, -2, true, 3} : Layout{3, 4, 5, true, 6};
  if (task == "mnli" || task == "mnli-mm")
    return test ? Layout{8, 9, -2, true, 10} : Layout{8, 9, -1, true, 11};
  // qnli, rte, wnli: index, sentence1, sentence2, label
  return test ? Layout{1, 2, -2, true, 3} : Layout{1, 2, -1, true, 4};
}

std::vector<Example> read_glue(const TaskSpec& spec, const std::string& path,
                               const std::string& split, ReadReport& report) {
  std::ifstream in(path);
  if (!in)
    fail("cannot open ", path, " (expected the GLUE ", spec.name, " files in that directory)");
  const Layout layout = glue_layout(spec.name, split);
  std::vector<Example> out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && layout.header) continue;
    if (line.empty()) continue;
    auto cols = split_tabs(line);
    if (cols.size() < layout.min_columns) {
      if (spec.name ==
          "qqp") {  // the official QQP files have a few broken rows; the convention skips them
        ++report.skipped;
        continue;
      }
      fail(path, " line ", line_no, ": ", cols.size(), " tab-separated columns, expected at least ",
           layout.min_columns, " for ", spec.name);
    }
    Example e;
    e.line = line_no;
    e.text_a = cols[layout.a];
    if (layout.b >= 0) e.text_b = cols[layout.b];
    if (layout.label != -2) {
      e.label = layout.label == -1 ? cols.back() : cols[layout.label];
      if (e.label.empty()) {
        if (spec.name == "qqp") {  // as the malformed rows below
          ++report.skipped;
          continue;
        }
        fail(path, " line ", line_no, ": the row has no label");
      }
    }
    if (!e.label.empty() && spec.kind == TaskKind::Classification &&
        std::find(spec.labels.begin(), spec.labels.end(), e.label) == spec.labels.end()) {
      if (spec.name == "qqp") {
        ++report.skipped;
        continue;
      }
      fail(path, " line ", line_no, ": label \"", e.label, "\" is not one of the ", spec.name,
           " labels");
    }
    if (spec.kind == TaskKind::Regression && !e.label.empty()) label_value(e, path);
    out.push_back(std::move(e));
  }
  return out;
}

// Generic TSV: a header naming the columns text, text_pair (optional), label.
std::vector<Example> read_generic_tsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::string line;
  if (!std::getline(in, line))
    fail(path, " is empty (expected a header: text<TAB>label or text<TAB>text_pair<TAB>label)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto c = generic_columns(line, path, true);
  const int a = c.text, b = c.text_pair, label = c.label;
  std::vector<Example> out;
  size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto cols = split_tabs(line);
    if (cols.size() != c.columns)
      fail(path, " line ", line_no, ": ", cols.size(), " columns, the header has ", c.columns);
    Example e{cols[a], b >= 0 ? std::optional<std::string>(cols[b]) : std::nullopt, cols[label],
              line_no};
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Example> read_generic_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::vector<Example> out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    TextLine t = parse_text_line(line, line_no, path);
    Example e{std::move(t.text), std::move(t.text_pair), "", line_no};
    const auto& label = t.object.contains("label") ? t.object["label"] : nlohmann::ordered_json();
    if (!label.is_null()) e.label = label.is_string() ? label.get<std::string>() : label.dump();
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

GenericColumns generic_columns(const std::string& header, const std::string& path,
                               bool need_label) {
  const auto names = split_tabs(header);
  auto col = [&](const char* name) -> int {
    auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
  };
  GenericColumns c{col("text"), col("text_pair"), col("label"), names.size()};
  for (const auto& [index, name] : {std::pair{c.text, "text"}, std::pair{c.label, "label"}})
    if (index < 0 && (need_label || std::string_view(name) == "text"))
      fail(path, " line 1: the header has no \"", name, "\" column (found: ", header,
           "); expected text<TAB>label or text<TAB>text_pair<TAB>label");
  return c;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    out.push_back(line.substr(start, tab - start));
  out.push_back(line.substr(start));
  return out;
}

namespace {

nlohmann::ordered_json parse_line(const std::string& line, size_t line_no,
                                  const std::string& where) {
  try {
    return parse_json<nlohmann::ordered_json>(line);
  } catch (const JsonError& e) {
    fail(where, " line ", line_no, ": invalid JSON: ", e.what());
  }
}

}  // namespace

TextLine parse_input_line(const std::string& line, size_t line_no, const std::string& where) {
  auto j = parse_line(line, line_no, where);
  if (!j.is_object() || !j.contains("question"))
    return parse_text_line(std::move(j), line_no, where);
  for (const char* key : {"question", "context"})
    if (!j.contains(key) || !j[key].is_string())
      fail(where, " line ", line_no,
           ": a question needs a string \"question\" and a string "
           "\"context\"");
  TextLine t{j, j["question"].get<std::string>(), j["context"].get<std::string>()};
  return t;
}

TextLine parse_text_line(const std::string& line, size_t line_no, const std::string& where) {
  return parse_text_line(parse_line(line, line_no, where), line_no, where);
}

TextLine parse_text_line(nlohmann::ordered_json object, size_t line_no, const std::string& where) {
  TextLine t;
  t.object = std::move(object);
  if (!t.object.is_object() || !t.object.contains("text") || !t.object["text"].is_string())
    fail(where, " line ", line_no, ": expected an object with a string \"text\"");
  t.text = t.object["text"].get<std::string>();
  if (t.object.contains("text_pair") && !t.object["text_pair"].is_null()) {
    if (!t.object["text_pair"].is_string())
      fail(where, " line ", line_no, ": \"text_pair\" must be a string or null");
    t.text_pair = t.object["text_pair"].get<std::string>();
  }
  return t;
}

TextColumns glue_text_columns(const TaskSpec& spec, const std::string& split) {
  Layout l = glue_layout(spec.name, split);
  return {l.a, l.b, l.header, l.min_columns};
}

TaskSpec task_spec(const std::string& raw) {
  const std::string name = lower(raw);
  constexpr auto C = TaskKind::Classification;
  const std::vector<std::string> binary = {"0", "1"}, acc = {"accuracy"},
                                 nli = {"contradiction", "entailment", "neutral"},
                                 entail = {"entailment", "not_entailment"};
  TaskSpec s;
  if (name == "cola")
    s = {"cola", C, binary, {"mcc", "accuracy"}, "mcc"};
  else if (name == "sst-2" || name == "sst2")
    s = {"sst-2", C, binary, acc, "accuracy"};
  else if (name == "mrpc")
    s = {"mrpc", C, binary, {"accuracy", "f1"}, "accuracy", "dev", true};
  else if (name == "sts-b" || name == "stsb")
    s = {"sts-b", TaskKind::Regression, {"score"}, {"pearson", "spearman"}, "pearson", "dev", true};
  else if (name == "qqp")
    s = {"qqp", C, binary, {"accuracy", "f1"}, "accuracy", "dev", true};
  else if (name == "mnli")
    s = {"mnli", C, nli, acc, "accuracy", "dev_matched", true};
  else if (name == "mnli-mm")
    s = {"mnli-mm", C, nli, acc, "accuracy", "dev_mismatched", true};
  else if (name == "qnli")
    s = {"qnli", C, entail, acc, "accuracy", "dev", true};
  else if (name == "rte")
    s = {"rte", C, entail, acc, "accuracy", "dev", true};
  else if (name == "wnli")
    s = {"wnli", C, binary, acc, "accuracy", "dev", true};
  else if (name == "generic")
    s = {"generic", C, {}, acc, "accuracy"};
  else if (name == "conll")
    s = {"conll", TaskKind::TokenClassification, {}, acc, "accuracy"};
  else if (name == "squad" || name == "squad_v2") {
    // HF's BertForQuestionAnswering keeps num_labels 2 with its default names.
    s = {name, TaskKind::QuestionAnswering, {"LABEL_0", "LABEL_1"}, {"exact_match", "f1"}, "f1"};
    s.pair = true;
    s.qa.unanswerable = name == "squad_v2";
    if (s.qa.unanswerable)
      for (const char* m :
           {"HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total"})
        s.metrics.push_back(m);
  } else
    fail("unknown task \"", raw,
         "\" (known: cola, sst-2, mrpc, sts-b, qqp, mnli, mnli-mm, qnli, rte, wnli, generic, "
         "conll, squad, squad_v2)");
  return s;
}

void set_tag_labels(TaskSpec& spec, const std::vector<std::string>& tags) {
  if (spec.labels.empty()) spec.labels = tags;
  if (is_entity_scheme(spec.labels)) {
    spec.metrics = {"accuracy", "precision", "recall", "f1"};
    spec.main_metric = "f1";
  } else {
    spec.metrics = {"accuracy"};
    spec.main_metric = "accuracy";
  }
}

std::vector<Example> read_split(TaskSpec& spec, const std::string& dir, const std::string& split,
                                ReadReport* report) {
  namespace fs = std::filesystem;
  ReadReport local;
  ReadReport& r = report ? *report : local;
  if (spec.kind == TaskKind::TokenClassification || spec.kind == TaskKind::QuestionAnswering)
    fail("the ", spec.name, " task's data is read by load_split");
  std::vector<Example> out;
  if (spec.name == "generic") {
    fs::path tsv = fs::path(dir) / (split + ".tsv"), jsonl = fs::path(dir) / (split + ".jsonl");
    if (fs::exists(tsv))
      r.path = tsv.string(), out = read_generic_tsv(r.path);
    else if (fs::exists(jsonl))
      r.path = jsonl.string(), out = read_generic_jsonl(r.path);
    else
      fail("no ", split, ".tsv or ", split, ".jsonl in ", dir);
    for (const auto& e : out) {
      if (e.text_b) spec.pair = true;
      if (e.text_a.empty() && !e.text_b) fail(r.path, " line ", e.line, ": empty text");
    }
    if (spec.kind == TaskKind::Regression) {
      spec.labels = {"score"};
      spec.metrics = {"pearson", "spearman"};
      spec.main_metric = "pearson";
      for (const auto& e : out) label_value(e, r.path);
    } else {
      if (spec.labels.empty()) {
        std::set<std::string> seen;
        for (const auto& e : out)
          if (!e.label.empty()) seen.insert(e.label);
        if (seen.size() < 2)
          fail(r.path, ": a classification task needs at least two labels, found ", seen.size());
        spec.labels.assign(seen.begin(), seen.end());
      }
      spec.metrics = spec.labels.size() == 2 ? std::vector<std::string>{"accuracy", "f1"}
                                             : std::vector<std::string>{"accuracy", "macro_f1"};
      for (const auto& e : out) label_id(spec, e, r.path);
    }
  } else {
    std::string file = split == "dev" ? spec.dev_split : split;
    if (split == "test" && (spec.name == "mnli" || spec.name == "mnli-mm"))
      file = spec.name == "mnli" ? "test_matched" : "test_mismatched";
    r.path = (fs::path(dir) / (file + ".tsv")).string();
    out = read_glue(spec, r.path, split, r);
  }
  r.rows = out.size();
  if (out.empty()) fail(r.path, " has no examples");
  return out;
}

double label_value(const Example& e, const std::string& source) {
  if (e.label.empty()) fail(source, " line ", e.line, ": the row has no label");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(e.label, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != e.label.size())
    fail(source, " line ", e.line, ": label \"", e.label, "\" is not a number (regression task)");
  if (!std::isfinite(v))
    fail(source, " line ", e.line, ": label \"", e.label,
         "\" is not a finite number; a regression label must be finite");
  return v;
}

int64_t label_id(const TaskSpec& spec, const Example& e, const std::string& source) {
  if (e.label.empty()) fail(source, " line ", e.line, ": the row has no label");
  auto it = std::find(spec.labels.begin(), spec.labels.end(), e.label);
  if (it == spec.labels.end()) {
    std::string known;
    for (const auto& l : spec.labels) known += (known.empty() ? "" : ", ") + l;
    fail(source, " line ", e.line, ": label \"", e.label, "\" is not one of the task's labels (",
         known, ")");
  }
  return it - spec.labels.begin();
}

}  // namespace tinybert::data
