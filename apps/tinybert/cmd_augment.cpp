// tinybert augment: TinyBERT data augmentation of a task file, streamed, resumable, written in
// the input's own format (GLUE TSV, generic TSV or JSONL): each original row, then its variants.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "tinybert/augment/augmenter.h"
#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/core/progress.h"
#include "tinybert/data/task.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/checkpoint.h"
#include "tinybert/io/run_lock.h"
#include "train_options.h"

namespace tinybert::cli {

namespace fs = std::filesystem;

namespace {

std::string join_tabs(const std::vector<std::string>& cols) {
  std::string s;
  for (size_t i = 0; i < cols.size(); ++i) s += (i ? "\t" : "") + cols[i];
  return s;
}

// How rows of the input carry their texts, and how to write a row with other texts.
struct Format {
  bool jsonl = false, header = false;
  int a = 0, b = -1;  // TSV columns
  size_t min_columns = 1;

  // The texts of a row (1 or 2); nullopt for a row to pass over (QQP's broken rows).
  std::optional<std::vector<std::string>> texts(const std::string& line, size_t line_no,
                                                const std::string& path,
                                                bool skip_malformed) const {
    std::vector<std::string> t;
    if (jsonl) {
      auto row = data::parse_text_line(line, line_no, path);
      t.push_back(row.text);
      if (row.text_pair) t.push_back(*row.text_pair);
    } else {
      auto cols = data::split_tabs(line);
      if (cols.size() < min_columns) {
        if (skip_malformed) return std::nullopt;
        fail(path, " line ", line_no, ": ", cols.size(),
             " tab-separated columns, expected at least ", min_columns);
      }
      t.push_back(cols[a]);
      if (b >= 0) t.push_back(cols[b]);
    }
    for (const auto& x : t)
      if (x.find_first_not_of(" \t\r\n") == std::string::npos)
        fail(path, " line ", line_no, ": empty text");
    return t;
  }

  std::string with_texts(const std::string& line, const std::vector<std::string>& t) const {
    if (jsonl) {
      auto j = parse_json<nlohmann::ordered_json>(line);
      j["text"] = t[0];
      if (t.size() > 1) j["text_pair"] = t[1];
      return j.dump();
    }
    auto cols = data::split_tabs(line);
    cols[a] = t[0];
    if (b >= 0) cols[b] = t[1];
    return join_tabs(cols);
  }
};

Format detect_format(const std::string& task, const std::string& path) {
  auto spec = data::task_spec(task);
  Format f;
  if (spec.name != "generic") {
    auto c = data::glue_text_columns(spec, "train");
    f.a = c.a;
    f.b = c.b;
    f.header = c.header;
    f.min_columns = c.min_columns;
    return f;
  }
  if (fs::path(path).extension() == ".jsonl") {
    f.jsonl = true;
    return f;
  }
  std::ifstream in(path);
  std::string header;
  if (!std::getline(in, header)) fail(path, " is empty");
  if (!header.empty() && header.back() == '\r') header.pop_back();
  auto cols = data::split_tabs(header);
  auto find = [&](const char* n) {
    auto it = std::find(cols.begin(), cols.end(), n);
    return it == cols.end() ? -1 : static_cast<int>(it - cols.begin());
  };
  f.header = true;
  f.a = find("text");
  f.b = find("text_pair");
  if (f.a < 0) fail(path, " line 1: the header has no \"text\" column");
  f.min_columns = cols.size();
  return f;
}

}  // namespace

Runner add_augment(CLI::App& app) {
  struct Options {
    std::string model, task, input, output, glove;
    augment::AugmentConfig cfg;
    int64_t glove_max_words = 0, chunk_rows = 256;
    uint64_t seed = 42;
    bool resume = false;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("augment", "TinyBERT data augmentation (MLM + word-vector replacement)");
  cmd->add_option("--model", o->model,
                  "masked-LM model directory (pre-trained BERT, e.g. the teacher's)")
      ->required();
  cmd->add_option("--task", o->task, "GLUE task name or generic (sets the file layout)")
      ->required();
  cmd->add_option("--input", o->input, "task file to augment (e.g. DATA/train.tsv)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", o->output, "augmented file to write (same format)")->required();
  cmd->add_option("--n-aug", o->cfg.n_aug, "N_a: tries per row")
      ->capture_default_str()
      ->check(positive(10000));
  cmd->add_option("--p", o->cfg.p, "p_t: replacement probability per word")
      ->capture_default_str()
      ->check(in_range(0, 1));
  cmd->add_option("--k", o->cfg.k, "K: candidates per word")
      ->capture_default_str()
      ->check(positive(10000));
  cmd->add_option(
      "--glove", o->glove,
      "GloVe-format word vectors for multi-piece words (default: the MLM's embeddings)");
  cmd->add_option("--glove-max-words", o->glove_max_words,
                  "read only the first N GloVe words (0: all)")
      ->capture_default_str()
      ->check(non_negative(1e9));
  cmd->add_option("--batch-size", o->cfg.mlm_batch_size, "masked inputs per MLM forward")
      ->capture_default_str()
      ->check(positive(1 << 16));
  cmd->add_option("--chunk-rows", o->chunk_rows, "rows whose words are batched together")
      ->capture_default_str()
      ->check(positive(1 << 20));
  cmd->add_option("--seed", o->seed, "random seed (same seed, same file)")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue an interrupted run from its last completed row");
  add_common_options(cmd, o->common);
  return [o]() {
    nlohmann::json settings = {{"model", o->model},     {"task", o->task}, {"input", o->input},
                               {"n_aug", o->cfg.n_aug}, {"p", o->cfg.p},   {"k", o->cfg.k},
                               {"glove", o->glove},     {"seed", o->seed}};
    print_settings("augment", settings);
    c10::Device device = start_runtime(o->common);
    auto loaded = io::load_model(o->model, {.device = device});
    auto tok = text::Tokenizer::from_dir(o->model);
    std::optional<augment::WordVectors> glove;
    if (!o->glove.empty()) glove = augment::WordVectors::load(o->glove, o->glove_max_words);
    augment::Augmenter aug(loaded.model, tok, o->cfg, std::move(glove));
    const Format fmt = detect_format(o->task, o->input);
    const bool skip_malformed = data::task_spec(o->task).name == "qqp";

    // Count rows for progress.
    int64_t total = 0;
    {
      std::ifstream in(o->input);
      for (std::string l; std::getline(in, l);) total += !l.empty();
      if (fmt.header) --total;
    }
    const std::string partial = o->output + ".partial", state_path = o->output + ".progress";
    const fs::path out_path(o->output);  // one run writes this output (hidden lock beside it)
    const io::RunLock lock(
        (out_path.parent_path() / ("." + out_path.filename().string() + ".lock")).string(),
        o->output);
    int64_t done_rows = 0;
    std::ofstream out;
    if (o->resume && fs::exists(state_path) && fs::exists(partial)) {
      auto st = parse_json(read_file(state_path));
      if (st["settings"] != settings)
        fail("--resume: ", state_path, " was written with other settings");
      done_rows = st["rows"];
      fs::resize_file(partial, st["bytes"].get<uintmax_t>());
      out.open(partial, std::ios::app | std::ios::binary);
      std::cerr << "resuming after row " << done_rows << "\n";
    } else {
      if (o->resume)
        std::cerr << "notice: nothing to resume for " << o->output
                  << "; starting from the first row\n";
      out.open(partial, std::ios::trunc | std::ios::binary);
    }
    if (!out) fail("cannot write ", partial);

    std::ifstream in(o->input);
    std::string line;
    size_t line_no = 0;
    if (fmt.header) {
      std::getline(in, line);
      ++line_no;
      if (done_rows == 0) out << line << "\n";
    }
    Progress progress(total, 100, "rows/s");
    int64_t row = 0, written = 0, skipped = 0;
    struct Pending {
      std::string line;
      size_t line_no;
      int64_t index;  // 0-based row number
      std::vector<std::string> texts;
    };
    std::vector<Pending> chunk;
    auto flush = [&]() {
      if (chunk.empty()) return;
      std::vector<std::string> all;
      for (const auto& p : chunk) all.insert(all.end(), p.texts.begin(), p.texts.end());
      std::vector<std::vector<std::vector<std::string>>> cands;
      try {
        cands = aug.candidates(all);
      } catch (const Error& e) {
        fail(o->input, " lines ", chunk.front().line_no, "-", chunk.back().line_no, ": ", e.what());
      }
      size_t c = 0;
      for (const auto& p : chunk) {
        // One generator per row, from (seed, row): the file does not depend on chunking or threads.
        std::seed_seq seq{o->seed, static_cast<uint64_t>(p.index)};
        std::mt19937_64 rng(seq);
        std::vector<std::vector<std::string>> tries;
        for (const auto& t : p.texts) tries.push_back(aug.tries(t, cands[c++], rng));
        std::set<std::vector<std::string>> seen{p.texts};
        out << p.line << "\n";
        ++written;
        for (int64_t t = 0; t < o->cfg.n_aug; ++t) {
          std::vector<std::string> variant;
          for (const auto& col : tries) variant.push_back(col[t]);
          if (!seen.insert(variant).second) continue;
          out << fmt.with_texts(p.line, variant) << "\n";
          ++written;
        }
      }
      out.flush();
      if (!out) fail("cannot write ", partial);
      chunk.clear();
      nlohmann::json st = {
          {"rows", row}, {"bytes", static_cast<uintmax_t>(out.tellp())}, {"settings", settings}};
      io::write_file_atomic(state_path, st.dump() + "\n");
      progress.update(row, cat(written, " rows written"), row / std::max(1e-9, progress.elapsed()));
    };
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto texts = fmt.texts(line, line_no, o->input, skip_malformed);
      if (!texts) {
        ++skipped;
        continue;
      }
      ++row;
      if (row <= done_rows) continue;
      chunk.push_back({line, line_no, row - 1, std::move(*texts)});
      if (static_cast<int64_t>(chunk.size()) >= o->chunk_rows) flush();
    }
    flush();
    progress.finish();
    out.close();
    fs::rename(partial, o->output);
    fs::remove(state_path);
    std::cerr << "augmented " << row << " rows into " << written << " (" << o->output << ")"
              << (skipped ? cat(", ", skipped, " malformed rows skipped") : "")
              << "; MLM forward passes: " << aug.mlm_forwards() << "\n";
    return 0;
  };
}

}  // namespace tinybert::cli
