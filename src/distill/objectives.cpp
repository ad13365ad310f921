// Fine-tuning and distillation objectives.
#include "tinybert/distill/objectives.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>

#include "tinybert/core/error.h"
#include "tinybert/data/metrics.h"
#include "tinybert/io/checkpoint.h"
#include "tinybert/model/infer.h"
#include "tinybert/runtime/runtime.h"

namespace tinybert::distill {

namespace fs = std::filesystem;

NamedParams named_params(torch::nn::Module& m, const std::string& prefix) {
  NamedParams out;
  for (const auto& p : m.named_parameters(true))
    if (p.value().requires_grad()) out.emplace_back(prefix + p.key(), p.value());
  return out;
}

void reload_weights(model::AutoBertImpl& m, const std::string& dir) {
  auto report =
      io::load_state(m, io::SafetensorsFile::load((fs::path(dir) / "model.safetensors").string()));
  if (!report.initialized.empty())
    fail(dir, ": checkpoint lacks ", report.initialized.front(), "; cannot resume");
}

Predictions predict(model::AutoBertImpl& m, const data::Dataset& d, bool regression,
                    int64_t batch_size, c10::Device device) {
  const bool was_training = m.is_training();
  m.eval();
  torch::NoGradGuard no_grad;
  Predictions p;
  for (size_t start = 0; start < d.size(); start += batch_size) {
    if (stop_requested()) throw Interrupted();
    std::vector<int64_t> idx;
    for (size_t i = start; i < std::min(d.size(), start + batch_size); ++i)
      idx.push_back(static_cast<int64_t>(i));
    auto b = d.batch(idx, device);
    auto logits = model::infer(m, b.inputs).to(torch::kCPU, torch::kFloat);  // (B, C)
    if (regression) {
      for (int64_t i = 0; i < logits.size(0); ++i) p.values.push_back(logits[i][0].item<double>());
    } else {
      auto ids = logits.argmax(-1);
      for (int64_t i = 0; i < ids.size(0); ++i) p.ids.push_back(ids[i].item<int64_t>());
    }
  }
  m.train(was_training);
  return p;
}

std::map<std::string, double> evaluate_model(model::AutoBertImpl& m, const data::Dataset& d,
                                             const data::TaskSpec& spec, int64_t batch_size,
                                             c10::Device device) {
  if (!d.labeled()) fail("the evaluation split has unlabeled rows; metrics need labels");
  auto p = predict(m, d, spec.regression, batch_size, device);
  if (spec.regression) return data::regression_metrics(spec.metrics, p.values, d.values());
  return data::classification_metrics(spec.metrics, p.ids, d.label_ids(),
                                      static_cast<int64_t>(spec.labels.size()));
}

// ---- fine-tuning

FinetuneObjective::FinetuneObjective(model::AutoBert model, const text::Tokenizer& tok, DevSet dev,
                                     c10::Device device)
    : model_(std::move(model)), tok_(tok), dev_(std::move(dev)), device_(device) {}

NamedParams FinetuneObjective::trainable() {
  return named_params(*model_);
}

LossTerms FinetuneObjective::loss(const data::TrainBatch& batch) {
  if (!batch.labels.defined()) fail("the training data has rows without labels");
  auto logits = model_->classify_at_cls(batch.inputs).to(torch::kFloat);  // (B, C)
  LossTerms l;
  if (model_->config.is_regression())
    l.total = torch::mse_loss(logits.view(-1), batch.labels);
  else
    l.total = torch::cross_entropy_loss(logits, batch.labels);
  return l;
}

std::map<std::string, double> FinetuneObjective::evaluate() {
  if (!dev_.data) return {};
  return evaluate_model(*model_, *dev_.data, dev_.spec, dev_.batch_size, device_);
}

void FinetuneObjective::save(const std::string& dir) {
  io::write_model_files(*model_, tok_, dir);
}
void FinetuneObjective::load_trainable(const std::string& dir) {
  reload_weights(*model_, dir);
}

// ---- intermediate layers

IntermediateObjective::IntermediateObjective(model::AutoBert teacher, model::AutoBert student,
                                             FitDense fit, LayerMap map, LossConfig cfg,
                                             const text::Tokenizer& tok)
    : teacher_(std::move(teacher)),
      student_(std::move(student)),
      fit_(std::move(fit)),
      map_(std::move(map)),
      cfg_(cfg),
      tok_(tok) {
  const auto& t = teacher_->config;
  const auto& s = student_->config;
  if (t.num_attention_heads != s.num_attention_heads)
    fail("the attention loss pairs heads one to one: the teacher has ", t.num_attention_heads,
         " heads, the student ", s.num_attention_heads,
         " (give the student the teacher's head count)");
  if (static_cast<int64_t>(map_.hidden.size()) != s.num_hidden_layers + 1)
    fail("the layer map covers ", map_.hidden.size() - 1, " student layers, the student has ",
         s.num_hidden_layers);
  if (map_.teacher_layers_needed() > t.num_hidden_layers)
    fail("the layer map needs teacher layer ", map_.teacher_layers_needed(), ", the teacher has ",
         t.num_hidden_layers);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

NamedParams IntermediateObjective::trainable() {
  auto p = named_params(*student_);
  auto f = named_params(*fit_, "fit_dense_module.");
  p.insert(p.end(), f.begin(), f.end());
  return p;
}

LossTerms IntermediateObjective::loss(const data::TrainBatch& batch) {
  model::ModelOutput t;
  {
    torch::NoGradGuard
        no_grad;  // (not InferenceMode: its tensors could not meet the student's graph)
    runtime::Autocast teacher_precision(batch.inputs.input_ids.device(), torch::kFloat);
    t = teacher_->forward(batch.inputs, {.hidden_states = true,
                                         .attention_scores = true,
                                         .max_layers = map_.teacher_layers_needed(),
                                         .heads = false});
  }
  auto s = student_->forward(batch.inputs,
                             {.hidden_states = true, .attention_scores = true, .heads = false});
  return intermediate_loss(s.bert, t.bert, *fit_, map_, cfg_);
}

void IntermediateObjective::save(const std::string& dir) {
  io::write_model_files(*student_, tok_, dir);
  save_fit_dense(*fit_, dir);
}

void IntermediateObjective::load_trainable(const std::string& dir) {
  reload_weights(*student_, dir);
  if (!load_fit_dense(*fit_, dir)) fail(dir, ": no ", kFitDenseFile, "; cannot resume");
}

// ---- prediction layer

PredictionObjective::PredictionObjective(model::AutoBert teacher, model::AutoBert student,
                                         LossConfig cfg, const data::Dataset& train,
                                         const text::Tokenizer& tok, DevSet dev, c10::Device device,
                                         std::string fit_dense_from)
    : teacher_(std::move(teacher)),
      student_(std::move(student)),
      cfg_(cfg),
      tok_(tok),
      dev_(std::move(dev)),
      device_(device),
      fit_dense_from_(std::move(fit_dense_from)) {
  if (teacher_->config.labels != student_->config.labels)
    fail("teacher and student label orders differ; they must be the same list in the same order");
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  const size_t step = static_cast<size_t>(std::max<int64_t>(1, dev_.batch_size));
  for (size_t start = 0; start < train.size(); start += step) {
    std::vector<int64_t> idx;
    for (size_t i = start; i < std::min(train.size(), start + step); ++i)
      idx.push_back(static_cast<int64_t>(i));
    parts.push_back(
        model::infer(*teacher_, train.batch(idx, device_).inputs).to(torch::kFloat));  // (b, C)
    ++teacher_forwards_;
  }
  cache_ = torch::cat(parts);  // (N, C)
}

NamedParams PredictionObjective::trainable() {
  return named_params(*student_);
}

LossTerms PredictionObjective::loss(const data::TrainBatch& batch) {
  auto rows = torch::tensor(batch.indices, torch::kLong).to(device_);
  auto teacher_logits = cache_.index_select(0, rows);  // (B, C)
  auto s = student_->classify_at_cls(batch.inputs);    // (B, C)
  return prediction_loss(s, teacher_logits, batch.labels, student_->config.is_regression(), cfg_);
}

std::map<std::string, double> PredictionObjective::evaluate() {
  if (!dev_.data) return {};
  return evaluate_model(*student_, *dev_.data, dev_.spec, dev_.batch_size, device_);
}

void PredictionObjective::save(const std::string& dir) {
  io::write_model_files(*student_, tok_, dir);
  const fs::path fit = fs::path(fit_dense_from_) / kFitDenseFile;
  if (!fit_dense_from_.empty() && fs::exists(fit))
    fs::copy_file(fit, fs::path(dir) / kFitDenseFile);
}

void PredictionObjective::load_trainable(const std::string& dir) {
  reload_weights(*student_, dir);
}

// ---- masked-LM pre-training

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
  io::write_model_files(*model_, tok_, dir);
}
void PretrainObjective::load_trainable(const std::string& dir) {
  reload_weights(*model_, dir);
}

}  // namespace tinybert::distill
