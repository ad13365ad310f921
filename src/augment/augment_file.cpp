// The augmentation job over a task file: format detection, chunks, progress and resumption.
#include "tinybert/augment/augment_file.h"

#include <climits>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/core/progress.h"
#include "tinybert/data/tagging.h"
#include "tinybert/data/task.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/run_lock.h"
#include "tinybert/runtime/distributed.h"

namespace tinybert::augment {

namespace fs = std::filesystem;

namespace {

std::string join_tabs(const std::vector<std::string>& cols) {
  std::string s;
  for (size_t i = 0; i < cols.size(); ++i) s += (i ? "\t" : "") + cols[i];
  return s;
}

// How rows of the input carry their texts, and how to write a row with other texts. A CoNLL row
// is a sentence (its lines); its text is its words joined by spaces, and a variant replaces words
// one for one, each keeping its tag.
struct Format {
  bool jsonl = false, header = false, conll = false;
  int a = 0, b = -1;  // TSV columns
  size_t min_columns = 1;

  // The next row (a non-empty line, or a CoNLL sentence's lines) and the line it starts on;
  // false at the end of the input.
  bool next_row(std::istream& in, std::string& row, size_t& line_no, size_t& first) const {
    row.clear();
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const bool blank = line.find_first_not_of(" \t") == std::string::npos;
      if (!conll) {
        if (blank) continue;
        row = line;
        first = line_no;
        return true;
      }
      if (blank && !row.empty()) return true;
      if (blank || line.rfind("-DOCSTART-", 0) == 0) continue;
      if (row.empty()) first = line_no;
      row += line + "\n";
    }
    return !row.empty();
  }

  // The words of a CoNLL row, and whether each lies in an entity (tagged B-, I-, E- or S-).
  static std::vector<std::pair<std::string, bool>> conll_words(const std::string& row) {
    std::vector<std::pair<std::string, bool>> words;
    std::istringstream lines(row);
    for (std::string line; std::getline(lines, line);) {
      auto cols = data::conll_columns(line);
      const std::string& tag = cols.back();
      words.emplace_back(cols.front(),
                         cols.size() > 1 && tag.size() > 2 && tag[1] == '-' &&
                             std::string_view("BIES").find(tag[0]) != std::string::npos);
    }
    return words;
  }

  // The texts of a row (1 or 2); nullopt for a row to pass over (QQP's broken rows).
  std::optional<std::vector<std::string>> texts(const std::string& line, size_t line_no,
                                                const std::string& path,
                                                bool skip_malformed) const {
    std::vector<std::string> t;
    if (conll) {
      std::string text;
      for (const auto& [word, entity] : conll_words(line)) text += (text.empty() ? "" : " ") + word;
      t.push_back(text);
    } else if (jsonl) {
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

  // Candidates of a row's text no variant may use: a CoNLL row's words inside entities (a
  // replacement would keep a name's tag on a word that is no name).
  void protect(const std::string& row, const std::string& text, const Augmenter& aug,
               std::vector<std::vector<std::string>>& cands) const {
    if (!conll) return;
    std::vector<std::pair<size_t, size_t>> spans;  // bytes of entity words in `text`
    size_t at = 0;
    for (const auto& [word, entity] : conll_words(row)) {
      if (entity) spans.emplace_back(at, at + word.size());
      at += word.size() + 1;
    }
    const auto ws = aug.words(text);
    for (size_t w = 0; w < ws.size() && w < cands.size(); ++w)
      for (auto [lo, hi] : spans)
        if (ws[w].begin >= lo && ws[w].end <= hi) cands[w].clear();
  }

  // The row with other texts; nullopt when a CoNLL variant's words no longer match the lines
  // one for one.
  std::optional<std::string> with_texts(const std::string& line,
                                        const std::vector<std::string>& t) const {
    if (conll) {
      std::istringstream words(t[0]), lines(line);
      std::string out, word, row_line;
      while (std::getline(lines, row_line)) {
        if (!(words >> word)) return std::nullopt;
        const size_t tab = row_line.find('\t');
        const size_t cut = tab != std::string::npos ? tab : row_line.find(' ');
        out += word + (cut == std::string::npos ? "" : row_line.substr(cut)) + "\n";
      }
      if (words >> word) return std::nullopt;
      return out;
    }
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
  if (spec.kind == data::TaskKind::QuestionAnswering)
    fail("augment does not rewrite question-answering data (", task,
         "): replacing words of a context moves or changes the answer spans, and the TinyBERT "
         "paper does not augment SQuAD either; distil on the original data (distill --stage task "
         "without --train-file)");
  if (spec.kind == data::TaskKind::TokenClassification) {
    f.conll = true;
    if (fs::path(path).extension() == ".jsonl")
      fail(path,
           ": augment rewrites CoNLL files (word<TAB>tag lines) of the conll task, not JSONL");
    return f;
  }
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
  const auto c = data::generic_columns(header, path, false);
  f.header = true;
  f.a = c.text;
  f.b = c.text_pair;
  f.min_columns = c.columns;
  return f;
}

}  // namespace

namespace {

// The lock of one run writing `path`: a hidden file beside it, never removed.
io::RunLock lock_output(const std::string& path) {
  const fs::path p(path);
  return io::RunLock((p.parent_path() / ("." + p.filename().string() + ".lock")).string(), path);
}

// The rows one process augments, [lo, hi) as 0-based row numbers, into `path` (written as
// PATH.partial with PATH.progress, renamed when complete); the header goes to rank 0's part.
struct Part {
  std::string path;
  int64_t lo = 0, hi = INT64_MAX;
  bool header = true, show_progress = true;
};

struct Counts {
  int64_t rows = 0, written = 0, skipped = 0;
};

// Augments the part's rows; resumable from PATH.progress when its settings match.
Counts augment_part(const AugmentJob& job, const Format& fmt, Augmenter& aug,
                    const nlohmann::json& settings, const Part& part, int64_t total) {
  const bool skip_malformed = data::task_spec(job.task).name == "qqp";
  const std::string partial = part.path + ".partial", state_path = part.path + ".progress";
  const io::RunLock lock = lock_output(part.path);  // one run writes this part
  int64_t done_rows = part.lo;
  std::ofstream out;
  if (job.resume && fs::exists(state_path) && fs::exists(partial)) {
    auto st = parse_json(read_file(state_path));
    if (st["settings"] != settings)
      fail("--resume: ", state_path, " was written with other settings");
    done_rows = st["rows"];
    if (done_rows < part.lo || done_rows > part.hi)
      fail("--resume: ", state_path, " is at row ", done_rows, ", outside this part's rows ",
           part.lo, "..", part.hi);
    fs::resize_file(partial, st["bytes"].get<uintmax_t>());
    out.open(partial, std::ios::app | std::ios::binary);
    std::cerr << "resuming after row " << done_rows << "\n";
  } else {
    if (job.resume)
      std::cerr << "notice: nothing to resume for " << part.path << "; starting at row " << part.lo
                << "\n";
    out.open(partial, std::ios::trunc | std::ios::binary);
  }
  if (!out) fail("cannot write ", partial);

  std::ifstream in(job.input);
  std::string line;
  size_t line_no = 0;
  if (fmt.header) {
    std::getline(in, line);
    ++line_no;
    if (done_rows == 0 && part.header) out << line << "\n";
  }
  std::optional<Progress> progress;
  if (part.show_progress) progress.emplace(std::min(total, part.hi) - part.lo, 100, "rows/s");
  int64_t row = 0;
  Counts n;
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
      fail(job.input, " lines ", chunk.front().line_no, "-", chunk.back().line_no, ": ", e.what());
    }
    size_t c = 0;
    for (const auto& p : chunk) {
      // One generator per row, from (seed, row): the file does not depend on chunking or threads.
      std::seed_seq seq{job.seed, static_cast<uint64_t>(p.index)};
      std::mt19937_64 rng(seq);
      std::vector<std::vector<std::string>> tries;
      for (const auto& t : p.texts) {
        fmt.protect(p.line, t, aug, cands[c]);
        tries.push_back(aug.tries(t, cands[c++], rng));
      }
      std::set<std::vector<std::string>> seen{p.texts};
      out << p.line << "\n";
      ++n.written;
      for (int64_t t = 0; t < job.config.n_aug; ++t) {
        std::vector<std::string> variant;
        for (const auto& col : tries) variant.push_back(col[t]);
        if (!seen.insert(variant).second) continue;
        const auto row = fmt.with_texts(p.line, variant);
        if (!row) continue;
        out << *row << "\n";
        ++n.written;
      }
    }
    out.flush();
    if (!out) fail("cannot write ", partial);
    chunk.clear();
    nlohmann::json st = {
        {"rows", row}, {"bytes", static_cast<uintmax_t>(out.tellp())}, {"settings", settings}};
    io::write_file_atomic(state_path, st.dump() + "\n");
    if (progress)
      progress->update(row - part.lo, cat(n.written, " rows written"),
                       (row - done_rows) / std::max(1e-9, progress->elapsed()));
  };
  for (size_t first = 0; fmt.next_row(in, line, line_no, first);) {
    auto texts = fmt.texts(line, first, job.input, skip_malformed);
    if (!texts) {
      n.skipped += row >= part.lo && row < part.hi;
      continue;
    }
    if (row >= part.hi) break;
    ++row;
    if (row <= done_rows) continue;
    chunk.push_back({line, first, row - 1, std::move(*texts)});
    if (static_cast<int64_t>(chunk.size()) >= job.chunk_rows) flush();
  }
  flush();
  if (progress) progress->finish();
  out.close();
  fs::rename(partial, part.path);
  fs::remove(state_path);
  n.rows = std::max<int64_t>(0, row - part.lo);
  return n;
}

// Appends `from` to `to` in blocks.
void append_file(std::ostream& to, const std::string& from) {
  std::ifstream in(from, std::ios::binary);
  if (!in) fail("cannot read ", from);
  to << in.rdbuf();
  if (!to) fail("cannot append ", from);
}

}  // namespace

void augment_file(const AugmentJob& job, Augmenter& aug, const nlohmann::json& settings) {
  const Format fmt = detect_format(job.task, job.input);
  int64_t total = 0;  // rows, for the progress bar and the ranks' shares
  {
    std::ifstream in(job.input);
    std::string row;
    size_t line_no = 0, first = 0;
    while (fmt.next_row(in, row, line_no, first)) ++total;
    if (fmt.header) --total;
  }
  const auto& g = runtime::group();
  Counts n;
  if (!g.distributed()) {
    n = augment_part(job, fmt, aug, settings, {job.output}, total);
  } else {
    // Rank r: a contiguous run of whole chunks (the same chunks, so the same file, as one
    // process), into OUTPUT.rankR; rank 0 concatenates the parts in rank order.
    const int64_t chunks = (total + job.chunk_rows - 1) / job.chunk_rows;
    auto first_row = [&](int64_t r) { return chunks * r / g.size() * job.chunk_rows; };
    auto part_path = [&](int r) { return cat(job.output, ".rank", r); };
    auto s = settings;  // the parts' rows depend on these too
    s["world_size"] = g.size();
    s["chunk_rows"] = job.chunk_rows;
    Part part{part_path(g.rank()), first_row(g.rank()),
              g.rank() + 1 == g.size() ? INT64_MAX : first_row(g.rank() + 1), g.rank() == 0,
              g.rank() == 0};
    n = augment_part(job, fmt, aug, s, part, total);
    g.arrive("augment");
    std::cerr << "rank " << g.rank() << ": augmented rows " << part.lo << "-" << part.lo + n.rows
              << " into " << n.written << " (" << part.path << ")\n";
    if (g.rank() != 0) return;
    std::cerr << "waiting for the other ranks' parts\n";
    g.wait_arrivals("augment");
    const io::RunLock lock = lock_output(job.output);  // as a one-process run into OUTPUT
    for (int r = 0; r < g.size(); ++r)
      if (!fs::exists(part_path(r)))
        fail("rank ", r, "'s part ", part_path(r),
             " is missing (with several machines, --output must be on a filesystem they share)");
    io::write_atomic(job.output, [&](std::ostream& out) {
      for (int r = 0; r < g.size(); ++r) append_file(out, part_path(r));
    });
    for (int r = 0; r < g.size(); ++r) fs::remove(part_path(r));
    std::cerr << "merged " << g.size() << " parts into " << job.output << "\n";
    return;
  }
  std::cerr << "augmented " << n.rows << " rows into " << n.written << " (" << job.output << ")"
            << (n.skipped ? cat(", ", n.skipped, " malformed rows skipped") : "")
            << "; MLM forward passes: " << aug.mlm_forwards() << "\n";
}

}  // namespace tinybert::augment
