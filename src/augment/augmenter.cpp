// Candidate words, MLM predictions, word-vector neighbours and replacement tries.
#include "tinybert/augment/augmenter.h"

#include <torch/torch.h>
#include <utf8proc.h>

#include <fstream>
#include <numeric>
#include <sstream>

#include "tinybert/core/error.h"
#include "tinybert/data/dataset.h"
#include "tinybert/text/pre_tokenizer.h"

namespace tinybert::augment {

namespace {

bool all_letters(std::string_view w) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(w.data());
  size_t i = 0;
  while (i < w.size()) {
    utf8proc_int32_t cp;
    auto n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(w.size() - i), &cp);
    if (n <= 0) return false;
    auto c = utf8proc_category(cp);
    if (c != UTF8PROC_CATEGORY_LU && c != UTF8PROC_CATEGORY_LL && c != UTF8PROC_CATEGORY_LT &&
        c != UTF8PROC_CATEGORY_LM && c != UTF8PROC_CATEGORY_LO)
      return false;
    i += static_cast<size_t>(n);
  }
  return !w.empty();
}

void check_utf8(const std::string& text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp;
    auto n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) fail("invalid UTF-8 at byte ", i);
    i += static_cast<size_t>(n);
  }
}

}  // namespace

std::string match_case(const std::string& original, const std::string& candidate) {
  if (original.empty() || candidate.empty()) return candidate;
  utf8proc_int32_t first;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(original.data());
  if (utf8proc_iterate(p, static_cast<utf8proc_ssize_t>(original.size()), &first) <= 0 ||
      !utf8proc_isupper(first))
    return candidate;
  const auto* q = reinterpret_cast<const utf8proc_uint8_t*>(candidate.data());
  utf8proc_int32_t c;
  auto n = utf8proc_iterate(q, static_cast<utf8proc_ssize_t>(candidate.size()), &c);
  if (n <= 0) return candidate;
  utf8proc_uint8_t buf[4];
  auto m = utf8proc_encode_char(utf8proc_toupper(c), buf);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(m)) +
         candidate.substr(static_cast<size_t>(n));
}

// ---- nearest neighbours

NeighbourIndex::NeighbourIndex(std::vector<std::string> words, at::Tensor vectors)
    : words_(std::move(words)) {
  unit_ = torch::nn::functional::normalize(vectors.to(torch::kFloat),
                                           torch::nn::functional::NormalizeFuncOptions().dim(1));
}

std::vector<std::vector<std::string>> NeighbourIndex::nearest(
    const at::Tensor& queries, const std::vector<std::string>& exclude, int64_t k) const {
  torch::NoGradGuard no_grad;
  auto q = torch::nn::functional::normalize(queries.to(torch::kFloat),
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto scores = torch::matmul(q, unit_.t());  // (M, N) cosine similarities
  const int64_t take = std::min<int64_t>(k + 1, unit_.size(0));
  auto top = std::get<1>(scores.topk(take, 1)).contiguous();  // (M, k+1)
  std::vector<std::vector<std::string>> out(queries.size(0));
  const int64_t* ids = top.data_ptr<int64_t>();
  for (int64_t i = 0; i < top.size(0); ++i) {
    for (int64_t j = 0; j < take && static_cast<int64_t>(out[i].size()) < k; ++j) {
      const std::string& w = words_[ids[i * take + j]];
      if (w != exclude[i]) out[i].push_back(w);
    }
  }
  return out;
}

WordVectors WordVectors::load(const std::string& path, int64_t max_words) {
  std::ifstream in(path);
  if (!in) fail("cannot open GloVe file ", path);
  WordVectors wv;
  std::vector<float> data;
  int64_t dim = -1;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line) &&
         (max_words <= 0 || static_cast<int64_t>(wv.words.size()) < max_words)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::istringstream ss(line);
    std::string word;
    ss >> word;
    std::vector<float> v;
    for (std::string tok; ss >> tok;) {
      try {
        size_t used = 0;
        v.push_back(std::stof(tok, &used));
        if (used != tok.size()) throw std::invalid_argument(tok);
      } catch (const std::exception&) {
        fail(path, " line ", line_no, ": \"", tok, "\" is not a number");
      }
    }
    if (line_no == 1 && v.size() == 1 &&
        word.find_first_not_of("0123456789") == std::string::npos) {
      dim = static_cast<int64_t>(v[0]);  // word2vec-style header "N D"
      if (dim <= 0) fail(path, " line 1: header dimension ", dim, " must be positive");
      continue;
    }
    if (dim < 0) dim = static_cast<int64_t>(v.size());
    if (static_cast<int64_t>(v.size()) != dim)
      fail(path, " line ", line_no, ": ", v.size(), " values for \"", word, "\", expected ", dim,
           " (the dimension of ", wv.words.empty() ? "the header" : "the first vector", ")");
    if (dim == 0) fail(path, " line ", line_no, ": no vector values");
    wv.index.emplace(word, static_cast<int64_t>(wv.words.size()));
    wv.words.push_back(word);
    data.insert(data.end(), v.begin(), v.end());
  }
  if (wv.words.empty()) fail(path, ": no word vectors");
  wv.vectors = torch::from_blob(data.data(), {static_cast<int64_t>(wv.words.size()), dim}).clone();
  return wv;
}

// ---- augmenter

Augmenter::Augmenter(model::AutoBert mlm, const text::Tokenizer& tok, AugmentConfig cfg,
                     std::optional<WordVectors> glove)
    : mlm_(std::move(mlm)), tok_(tok), cfg_(cfg), glove_(std::move(glove)) {
  if (!mlm_->cls)
    fail("augmentation needs a masked-LM model (BertForMaskedLM or BertForPreTraining)");
  if (cfg_.k <= 0 || cfg_.n_aug <= 0 || cfg_.p < 0 || cfg_.p > 1)
    fail("augment: need k > 0, n-aug > 0 and 0 <= p <= 1");
  mlm_->eval();
  cfg_.max_length = std::min(cfg_.max_length, mlm_->config.max_position_embeddings);
  if (glove_) {
    index_ = std::make_unique<NeighbourIndex>(glove_->words, glove_->vectors);
  } else {
    // Whole-word vocabulary entries (no "##", no [SPECIAL], letters only) in the input-embedding
    // space.
    std::vector<std::string> words;
    std::vector<int64_t> ids;
    const auto& vocab = tok_.vocab();
    for (size_t i = 0; i < vocab.size(); ++i) {
      const std::string& t = vocab.token(static_cast<int32_t>(i));
      if (t.rfind("##", 0) == 0 || t.empty() || t.front() == '[' || !all_letters(t)) continue;
      words.push_back(t);
      ids.push_back(static_cast<int64_t>(i));
    }
    auto emb =
        mlm_->bert->embeddings->word_embeddings->weight.detach().to(torch::kCPU, torch::kFloat);
    index_ = std::make_unique<NeighbourIndex>(
        words, emb.index_select(0, torch::tensor(ids, torch::kLong)));
  }
}

std::vector<Word> Augmenter::words(const std::string& text) const {
  check_utf8(text);
  std::vector<std::string_view> views;
  text::pre_tokenize(text, views);
  std::vector<Word> out;
  std::string lower;
  for (auto v : views) {
    Word w{static_cast<size_t>(v.data() - text.data()),
           static_cast<size_t>(v.data() - text.data()) + v.size(), false};
    if (all_letters(v)) {
      tok_.normalizer().normalize(v, lower);
      w.candidate = !is_stop_word(lower);
    }
    out.push_back(w);
  }
  return out;
}

std::vector<std::vector<std::string>> Augmenter::mlm_candidates(
    const std::vector<std::vector<int32_t>>& inputs, const std::vector<size_t>& mask_positions) {
  std::vector<std::vector<std::string>> out(inputs.size());
  const auto device = mlm_->bert->embeddings->word_embeddings->weight.device();
  // Batches of similar lengths, so little is spent on padding (attention grows with length^2).
  std::vector<size_t> order(inputs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return inputs[a].size() < inputs[b].size(); });
  const auto opts = torch::TensorOptions().dtype(torch::kLong);
  auto run_batch = [&](size_t start) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(cfg_.mlm_batch_size));
    std::vector<text::Encoding> enc;
    std::vector<int64_t> cols;
    for (size_t i = start; i < end; ++i) {
      text::Encoding e;
      e.ids = inputs[order[i]];
      // type 0 for "[CLS] masked [SEP]", 1 for "original [SEP]"
      size_t first_sep = std::find(e.ids.begin(), e.ids.end(), tok_.vocab().sep_id) - e.ids.begin();
      e.type_ids.assign(e.ids.size(), 0);
      for (size_t j = first_sep + 1; j < e.ids.size(); ++j) e.type_ids[j] = 1;
      enc.push_back(std::move(e));
      cols.push_back(static_cast<int64_t>(mask_positions[order[i]]));
    }
    // the last layer only at the masked position: the rest of its output is never read
    auto at_mask = mlm_->bert
                       ->forward(data::to_inputs(enc, tok_.vocab().pad_id, device),
                                 {.last_layer_positions = torch::tensor(cols, opts).to(device)})
                       .last_hidden_state.squeeze(1);                             // (B, H)
    auto logits = mlm_->cls->predictions->forward(at_mask);                       // (B, V)
    auto top = std::get<1>(logits.topk(cfg_.k, 1)).to(torch::kCPU).contiguous();  // (B, K)
    const int64_t* ids = top.data_ptr<int64_t>();
    for (size_t i = start; i < end; ++i)  // each batch fills its own rows of `out`
      for (int64_t j = 0; j < cfg_.k; ++j) {
        const std::string& t =
            tok_.vocab().token(static_cast<int32_t>(ids[(i - start) * cfg_.k + j]));
        if (t.rfind("##", 0) != 0) out[order[i]].push_back(t);
      }
  };
  std::vector<size_t> starts;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(cfg_.mlm_batch_size))
    starts.push_back(start);
  mlm_forwards_ += static_cast<int64_t>(starts.size());
  // On the CPU the batches are shared out to the workers, each running its forwards on one
  // thread: a small MLM's operators are too small to split well (measured with the fixture MLM:
  // 2 threads on one forward 1.4x one thread, 2 workers 1.9x). Each batch's result depends only
  // on its rows, so the output is the same whatever the thread count.
  if (!workers_ && device.is_cpu() && cfg_.parallel_batches && at::get_num_threads() > 1)
    workers_ = std::make_unique<runtime::Workers>();
  if (workers_ && starts.size() > 1) {
    workers_->run(starts.size(), [&](size_t b) {
      torch::InferenceMode guard;
      run_batch(starts[b]);
    });
  } else {
    torch::InferenceMode guard;
    for (size_t start : starts) run_batch(start);
  }
  return out;
}

std::vector<std::vector<std::string>> Augmenter::neighbour_candidates(
    const std::vector<std::string>& lower_words) {
  std::vector<std::vector<std::string>> out(lower_words.size());
  std::vector<size_t> todo;
  std::vector<at::Tensor> queries;
  std::vector<std::string> exclude;
  const auto emb = mlm_->bert->embeddings->word_embeddings->weight.detach();
  for (size_t i = 0; i < lower_words.size(); ++i) {
    const std::string& w = lower_words[i];
    if (cfg_.cache_neighbours) {
      auto it = cache_.find(w);
      if (it != cache_.end()) {
        out[i] = it->second;
        continue;
      }
    }
    if (glove_) {
      auto it = glove_->index.find(w);
      if (it == glove_->index.end()) continue;  // unknown to GloVe: no candidates
      queries.push_back(glove_->vectors[it->second]);
    } else {
      std::vector<int32_t> pieces;
      tok_.tokenize(w, pieces);
      std::vector<int64_t> ids(pieces.begin(), pieces.end());
      queries.push_back(emb.index_select(0, torch::tensor(ids, torch::kLong).to(emb.device()))
                            .mean(0)
                            .to(torch::kCPU, torch::kFloat));
    }
    todo.push_back(i);
    exclude.push_back(w);
  }
  if (!todo.empty()) {
    auto found = index_->nearest(torch::stack(queries), exclude, cfg_.k);
    for (size_t j = 0; j < todo.size(); ++j) {
      out[todo[j]] = found[j];
      if (cfg_.cache_neighbours) cache_[lower_words[todo[j]]] = found[j];
    }
  }
  return out;
}

std::vector<std::vector<std::vector<std::string>>> Augmenter::candidates(
    const std::vector<std::string>& texts) {
  std::vector<std::vector<std::vector<std::string>>> out(texts.size());
  // Jobs gathered over all texts, then run in batches.
  std::vector<std::vector<int32_t>> mlm_inputs;
  std::vector<size_t> mlm_masks;
  std::vector<std::pair<size_t, size_t>> mlm_owner, nb_owner;  // (text, word)
  std::vector<std::string> nb_words;
  std::string lower;
  const auto& v = tok_.vocab();
  std::vector<std::vector<Word>> text_words;
  for (size_t t = 0; t < texts.size(); ++t) {
    const auto& ws = text_words.emplace_back(words(texts[t]));
    out[t].resize(ws.size());
    std::vector<std::vector<int32_t>> pieces(ws.size());
    std::vector<int32_t> all;
    std::vector<size_t> offset(ws.size());
    for (size_t w = 0; w < ws.size(); ++w) {
      tok_.tokenize(std::string_view(texts[t]).substr(ws[w].begin, ws[w].end - ws[w].begin),
                    pieces[w]);
      offset[w] = all.size();
      all.insert(all.end(), pieces[w].begin(), pieces[w].end());
    }
    for (size_t w = 0; w < ws.size(); ++w) {
      if (!ws[w].candidate || pieces[w].empty()) continue;
      if (pieces[w].size() == 1) {
        // [CLS] masked [SEP] original [SEP], cut to max_length around the mask when too long
        const size_t half = static_cast<size_t>(cfg_.max_length - 3) / 2;
        size_t lo = offset[w] > half / 2 ? offset[w] - half / 2 : 0;
        size_t hi = std::min(all.size(), lo + half);
        std::vector<int32_t> in{v.cls_id};
        for (size_t i = lo; i < hi; ++i) in.push_back(i == offset[w] ? v.mask_id : all[i]);
        in.push_back(v.sep_id);
        in.insert(in.end(), all.begin() + lo, all.begin() + hi);
        in.push_back(v.sep_id);
        mlm_inputs.push_back(std::move(in));
        mlm_masks.push_back(1 + offset[w] - lo);
        mlm_owner.emplace_back(t, w);
      } else {
        tok_.normalizer().normalize(
            std::string_view(texts[t]).substr(ws[w].begin, ws[w].end - ws[w].begin), lower);
        nb_words.push_back(lower);
        nb_owner.emplace_back(t, w);
      }
    }
  }
  auto mlm = mlm_candidates(mlm_inputs, mlm_masks);
  for (size_t i = 0; i < mlm.size(); ++i)
    out[mlm_owner[i].first][mlm_owner[i].second] = std::move(mlm[i]);
  auto nb = neighbour_candidates(nb_words);
  for (size_t i = 0; i < nb.size(); ++i)
    out[nb_owner[i].first][nb_owner[i].second] = std::move(nb[i]);
  // Keep the original word's title case.
  for (size_t t = 0; t < texts.size(); ++t) {
    const auto& ws = text_words[t];
    for (size_t w = 0; w < ws.size(); ++w) {
      std::string original = texts[t].substr(ws[w].begin, ws[w].end - ws[w].begin);
      for (auto& c : out[t][w]) c = match_case(original, c);
    }
  }
  return out;
}

std::vector<std::string> Augmenter::tries(const std::string& text,
                                          const std::vector<std::vector<std::string>>& cands,
                                          std::mt19937_64& rng) const {
  auto ws = words(text);
  if (ws.size() != cands.size()) fail("augment: candidates do not belong to this text");
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::vector<std::string> out;
  for (int64_t t = 0; t < cfg_.n_aug; ++t) {
    std::string s;
    size_t done = 0;
    for (size_t w = 0; w < ws.size(); ++w) {
      if (cands[w].empty()) continue;
      if (coin(rng) >= cfg_.p) continue;
      std::uniform_int_distribution<size_t> pick(0, cands[w].size() - 1);
      s.append(text, done, ws[w].begin - done);
      s += cands[w][pick(rng)];
      done = ws[w].end;
    }
    s.append(text, done, std::string::npos);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tinybert::augment
