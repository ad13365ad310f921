// Extractive question answering: start and end logits per token (BertForQuestionAnswering), the
// answer searched over a question's windows, SQuAD's exact match and F1.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include "tasks.h"
#include "tinybert/core/error.h"
#include "tinybert/data/qa_metrics.h"

namespace tinybert::task {

namespace {

data::QaDecodeOptions decode_options(const data::QaSettings& s) {
  return {s.n_best, s.max_answer_length, s.unanswerable, s.null_threshold};
}

class QuestionAnswering : public Task {
 public:
  data::TaskKind kind() const override { return data::TaskKind::QuestionAnswering; }
  const char* name() const override { return "question_answering"; }
  model::Architecture architecture() const override {
    return model::Architecture::QuestionAnswering;
  }
  bool needs_offsets() const override { return true; }

  at::Tensor logits(model::AutoBertImpl& m, const model::BertInputs& in) const override {
    return m.forward(in).logits.to(at::kFloat);  // (B, T, 2)
  }

  // Two rows per window, its start and its end logits over the T positions: (2B, T), and the
  // answer's first and last token (2B); HF averages the two cross-entropies, as the mean does.
  // The prediction stage's soft cross-entropy at T on these rows is the paper's choice for SQuAD.
  std::pair<at::Tensor, at::Tensor> rows(const at::Tensor& logits,
                                         const at::Tensor& labels) const override {
    const int64_t T = logits.size(1);
    auto r = logits.transpose(1, 2).reshape({-1, T});  // (B, 2, T) -> (2B, T)
    return {r, labels.defined() ? labels.reshape(-1) : labels};
  }
  int64_t rows_of(const data::Dataset&, size_t) const override { return 2; }
  int64_t row_width(const model::BertConfig&, const data::Dataset& d) const override {
    return d.padded_length();
  }

  at::Tensor loss(const at::Tensor& logits, const at::Tensor& labels) const override {
    if (!labels.defined()) fail("question answering needs the answers of the training data");
    auto [l, y] = rows(logits, labels);  // (2B, T), (2B)
    return torch::cross_entropy_loss(l, y);
  }

  std::vector<Prediction> decode(const at::Tensor& logits,
                                 const std::vector<int64_t>& lengths) const override {
    const auto l = logits.to(at::kCPU, at::kFloat).contiguous();  // (B, T, 2)
    const int64_t B = l.size(0), T = l.size(1);
    const float* p = l.data_ptr<float>();
    std::vector<Prediction> out(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i) {
      const int64_t n = std::min<int64_t>(T, lengths.at(static_cast<size_t>(i)));
      for (int64_t t = 0; t < n; ++t) {
        out[i].start_logits.push_back(p[(i * T + t) * 2]);
        out[i].end_logits.push_back(p[(i * T + t) * 2 + 1]);
      }
    }
    return out;
  }

  std::map<std::string, double> metrics(const std::vector<Prediction>& p, const data::Dataset& d,
                                        const data::TaskSpec& spec) const override {
    const auto& questions = d.questions();
    std::vector<std::vector<data::QaWindowLogits>> windows(questions.size());
    for (size_t i = 0; i < p.size(); ++i)
      windows[d.question_of(i)].push_back({&d.encoding(i), p[i].start_logits, p[i].end_logits});
    std::vector<std::string> answers;
    std::vector<std::vector<std::string>> golds;
    for (size_t q = 0; q < questions.size(); ++q) {
      answers.push_back(
          data::best_answer(questions[q].context, windows[q], decode_options(spec.qa)).text);
      golds.push_back(questions[q].answers);
    }
    auto all = data::qa_metrics(answers, golds, spec.qa.unanswerable);
    std::map<std::string, double> out;
    for (const auto& name : spec.metrics) out[name] = all.at(name);
    return out;
  }

  // The context's windows.
  std::vector<text::Encoding> encode(const text::Tokenizer& tok, const Input& in,
                                     const InputOptions& o) const override {
    if (!in.pair) throw InvalidInput("a question answering model takes a question and a context");
    data::QaExample q{"", std::string(in.text), std::string(*in.pair), {}, {}, "the input"};
    const data::QaWindowOptions w{o.max_length, o.qa.doc_stride, o.qa.max_query_length};
    std::vector<text::Encoding> rows;
    try {
      for (auto& x : data::qa_windows(q, 0, tok, w)) rows.push_back(std::move(x.encoding));
    } catch (const Error& e) {
      throw InvalidInput(e.what());
    }
    return rows;
  }

  // HF's question-answering pipeline: {"answer", "start", "end", "score"}, characters of the
  // context; "answer" "" (start = end = 0) for no answer.
  nlohmann::ordered_json render(std::span<const Prediction> p, std::span<const text::Encoding> rows,
                                const std::vector<std::string>&, const Input& in,
                                const InputOptions& o) const override {
    std::vector<data::QaWindowLogits> windows;
    for (size_t i = 0; i < p.size(); ++i)
      windows.push_back({&rows[i], p[i].start_logits, p[i].end_logits});
    const auto a =
        data::best_answer(std::string(in.pair.value_or("")), windows, decode_options(o.qa));
    return {{"answer", a.text}, {"start", a.start}, {"end", a.end}, {"score", a.score}};
  }
};

}  // namespace

const Task& question_answering() {
  static const QuestionAnswering task;
  return task;
}

}  // namespace tinybert::task
