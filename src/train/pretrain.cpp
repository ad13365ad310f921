// Masked-LM (and next-sentence) pre-training.
#include "tinybert/train/pretrain.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <iostream>
#include <optional>

#include "tinybert/core/error.h"
#include "tinybert/core/stop.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::train {

PretrainObjective::PretrainObjective(model::AutoBert model, const text::Tokenizer& tok,
                                     double mask_prob, bool whole_word, data::BatchSource* eval,
                                     c10::Device device)
    : model_(std::move(model)),
      tok_(tok),
      mask_prob_(mask_prob),
      whole_word_(whole_word),
      eval_(eval),
      device_(device) {
  if (!model_->cls) fail("pre-training needs a BertForMaskedLM or BertForPreTraining model");
  if (mask_prob <= 0 || mask_prob >= 1) fail("--mask-prob must be in (0, 1), found ", mask_prob);
  const auto& v = tok_.vocab();
  if (static_cast<int64_t>(v.size()) != model_->config.vocab_size)
    fail("the vocabulary has ", v.size(), " tokens, the model's vocab_size is ",
         model_->config.vocab_size);
  std::vector<uint8_t> special(v.size()), cont(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& t = v.token(static_cast<int32_t>(i));
    special[i] = t.size() > 2 && t.front() == '[' && t.back() == ']';
    cont[i] = t.rfind("##", 0) == 0;
  }
  special_ = torch::tensor(special, torch::kBool).to(device_);
  continuation_ = torch::tensor(cont, torch::kBool).to(device_);
}

at::Tensor PretrainObjective::mask(at::Tensor& ids, const at::Tensor& attention_mask,
                                   at::Generator gen) {
  torch::NoGradGuard no_grad;
  auto cpu_ids = ids.to(torch::kCPU);
  auto eligible =
      ~special_.to(torch::kCPU).index({cpu_ids}) & attention_mask.to(torch::kCPU).to(torch::kBool);
  auto draw = at::rand(ids.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat));  // (B, T)
  if (whole_word_) {
    // A "##" piece takes the draw of its word's first piece.
    auto cont = continuation_.to(torch::kCPU).index({cpu_ids});
    auto d = draw.accessor<float, 2>();
    auto c = cont.accessor<bool, 2>();
    for (int64_t b = 0; b < draw.size(0); ++b)
      for (int64_t t = 1; t < draw.size(1); ++t)
        if (c[b][t]) d[b][t] = d[b][t - 1];
  }
  auto selected = eligible & (draw < mask_prob_);
  auto labels = torch::where(selected, cpu_ids, torch::full_like(cpu_ids, -100));
  auto how = at::rand(ids.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat));
  auto to_mask = selected & (how < 0.8);
  auto to_random = selected & (how >= 0.8) & (how < 0.9);
  auto random_ids = at::randint(model_->config.vocab_size, ids.sizes(), gen,
                                torch::TensorOptions().dtype(torch::kLong));
  cpu_ids = torch::where(to_mask, torch::full_like(cpu_ids, tok_.vocab().mask_id), cpu_ids);
  cpu_ids = torch::where(to_random, random_ids, cpu_ids);
  ids = cpu_ids.to(device_);
  return labels.to(device_);
}

PretrainObjective::Step PretrainObjective::forward(const model::BertInputs& in,
                                                   const at::Tensor& mlm_labels,
                                                   const at::Tensor& nsp_labels) {
  const bool nsp = nsp_labels.defined();
  if (nsp && !model_->cls->seq_relationship)
    fail("next-sentence pairs need a BertForPreTraining model (this one has no NSP head)");
  auto out = model_->bert->forward(in, {.heads = nsp});  // (B, T, H), pooled (B, H)
  Step r;
  auto where = mlm_labels.ne(-100);         // (B, T)
  auto target = mlm_labels.index({where});  // (M)
  r.mlm_count = target.numel();
  if (r.mlm_count == 0) {
    r.mlm_loss = out.last_hidden_state.sum() * 0;
  } else {
    auto logits = model_->cls->predictions->forward(out.last_hidden_state.index({where}))
                      .to(torch::kFloat);  // (M, V)
    r.mlm_loss = torch::cross_entropy_loss(logits, target);
    r.mlm_correct = logits.argmax(-1).eq(target).sum().item<int64_t>();
  }
  if (nsp) {
    auto logits = model_->cls->seq_relationship->forward(out.pooled).to(torch::kFloat);  // (B, 2)
    r.nsp_loss = torch::cross_entropy_loss(logits, nsp_labels);
    r.nsp_correct = logits.argmax(-1).eq(nsp_labels).sum().item<int64_t>();
  }
  return r;
}

LossTerms PretrainObjective::loss(const data::TrainBatch& batch) {
  auto in = batch.inputs;
  in.input_ids = in.input_ids.clone();
  auto labels = mask(in.input_ids, in.attention_mask, at::detail::getDefaultCPUGenerator());
  auto r = forward(in, labels, batch.labels);
  std::map<std::string, double> metrics{
      {"mlm_loss", r.mlm_loss.item<double>()},
      {"mlm_accuracy", r.mlm_count ? double(r.mlm_correct) / r.mlm_count : 0.0}};
  if (!r.nsp_loss.defined()) return {r.mlm_loss, metrics};
  metrics["nsp_loss"] = r.nsp_loss.item<double>();
  metrics["nsp_accuracy"] = double(r.nsp_correct) / batch.size();
  return {r.mlm_loss + r.nsp_loss, metrics};
}

std::map<std::string, double> PretrainObjective::evaluate() {
  if (!eval_) return {};
  const bool was_training = model_->is_training();
  model_->eval();
  torch::NoGradGuard no_grad;
  auto gen =
      at::make_generator<at::CPUGeneratorImpl>(12345);  // the same masking at every evaluation
  double mlm_loss = 0, nsp_loss = 0;
  int64_t mlm_correct = 0, mlm_total = 0, nsp_correct = 0, sequences = 0;
  eval_->start_epoch(0);
  while (auto batch = eval_->next()) {
    if (stop_requested()) throw Interrupted();
    auto in = batch->inputs;
    auto labels = mask(in.input_ids, in.attention_mask, gen);
    auto r = forward(in, labels, batch->labels);
    mlm_loss += r.mlm_loss.item<double>() * r.mlm_count;
    mlm_correct += r.mlm_correct;
    mlm_total += r.mlm_count;
    if (r.nsp_loss.defined()) {
      nsp_loss += r.nsp_loss.item<double>() * batch->size();
      nsp_correct += r.nsp_correct;
      sequences += batch->size();
    }
  }
  model_->train(was_training);
  if (mlm_total == 0) fail("the evaluation corpus has no maskable tokens");
  std::map<std::string, double> m{{"mlm_accuracy", double(mlm_correct) / mlm_total},
                                  {"mlm_loss", mlm_loss / mlm_total}};
  if (sequences) {
    m["nsp_accuracy"] = double(nsp_correct) / sequences;
    m["nsp_loss"] = nsp_loss / sequences;
  }
  return m;
}

NamedParams PretrainObjective::trainable() {
  return named_params(*model_);
}
void PretrainObjective::save(const std::string& dir) {
  model::write_model_files(*model_, tok_, dir);
}
void PretrainObjective::load_trainable(const std::string& dir) {
  reload_weights(*model_, dir);
}

TrainSummary pretrain(const PretrainJob& job, const nlohmann::json& settings) {
  if (job.model.empty() == job.model_config.empty())
    fail("give either --model-config (new model) or --model");
  if (!job.model_config.empty() && job.vocab.empty()) fail("a new model needs --vocab");
  const c10::Device device = job.train.device;
  const auto architecture =
      job.nsp ? model::Architecture::PreTraining : model::Architecture::MaskedLM;
  model::AutoBert m{nullptr};
  std::optional<text::Tokenizer> tok;
  if (!job.model.empty()) {
    auto loaded = model::load_model(
        job.model, {.architecture = architecture, .device = device, .seed = job.train.seed});
    std::cerr << loaded.report.summary();
    m = loaded.model;
    tok = text::Tokenizer::from_dir(job.model);
  } else {
    auto cfg = model::BertConfig::load(job.model_config);
    cfg.architecture = architecture;
    m = model::init_model(cfg, job.train.seed);
    m->to(device);
    tok = text::Tokenizer::from_vocab(job.vocab);
  }
  if (job.max_length > m->config.max_position_embeddings)
    fail("--max-length ", job.max_length, " exceeds the model's max_position_embeddings ",
         m->config.max_position_embeddings);
  data::CorpusSource source(job.corpus, *tok, job.max_length, source_batch_size(job.train),
                            job.train.seed, device, job.nsp);
  std::cerr << "corpus: " << job.corpus << ": " << source.sequences()
            << (job.nsp ? " sentence pairs" : " packed sequences") << " of up to " << job.max_length
            << " tokens\n";
  std::optional<data::CorpusSource> eval;
  if (!job.eval_corpus.empty())
    eval.emplace(job.eval_corpus, *tok, job.max_length, job.eval_batch_size, 0, device, job.nsp);
  PretrainObjective obj(m, *tok, job.mask_prob, job.whole_word, eval ? &*eval : nullptr, device);
  return train(job.train, obj, source, settings);
}

}  // namespace tinybert::train
