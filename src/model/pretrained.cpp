// The pretrained-model directory: loading (HF key aliases, head rules, size checks) and saving.
#include "tinybert/model/pretrained.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <filesystem>
#include <map>
#include <set>

#include "tinybert/core/error.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/io/tensor_file.h"

namespace tinybert::model {

namespace fs = std::filesystem;

namespace {

std::string shape_str(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Tensors belonging to a head rather than to the encoder.
bool is_head_key(const std::string& key) {
  return key.starts_with("cls.") || key.starts_with("classifier.") ||
         key.starts_with("qa_outputs.") || key.starts_with("bert.pooler.");
}

// The model's name for a checkpoint key ("" for keys that carry nothing to load).
std::string canonical_key(std::string key) {
  if (key.ends_with("LayerNorm.gamma")) key.replace(key.size() - 5, 5, "weight");
  if (key.ends_with("LayerNorm.beta")) key.replace(key.size() - 4, 4, "bias");
  if (!key.starts_with("bert.") && !is_head_key(key)) key = "bert." + key;
  if (key == "bert.embeddings.position_ids") return "";  // a buffer, not a weight
  if (key == "cls.predictions.decoder.bias") return "cls.predictions.bias";
  return key;
}

// The file's tensors by the model's names (the tied decoder standing in for missing embeddings).
std::map<std::string, const io::TensorInfo*> by_model_name(const io::SafetensorsFile& file) {
  std::map<std::string, const io::TensorInfo*> out;
  for (const auto& info : file.tensors()) {
    const std::string key = info.name == "cls.predictions.decoder.weight"
                                ? "bert.embeddings.word_embeddings.weight"
                                : canonical_key(info.name);
    if (!key.empty() && (!out.count(key) || info.name != "cls.predictions.decoder.weight"))
      out[key] = &info;
  }
  return out;
}

// Reads every int8 slot's "<name>.weight" (I8) and "<name>.weight_scale" from `by_name` (taking
// them out): the int8 layer is packed and its fp32 weight gets the dequantized values. Returns the
// parameters so loaded; what is wrong goes to `problems`.
std::set<std::string> load_int8(AutoBertImpl& model, const io::SafetensorsFile& file,
                                std::map<std::string, const io::TensorInfo*>& by_name,
                                std::vector<std::string>& problems) {
  std::set<std::string> loaded;
  for (auto& slot : linear_slots(*model.bert)) {
    const std::string w_name = "bert." + slot.name + ".weight", s_name = w_name + "_scale";
    auto w = by_name.find(w_name), s = by_name.find(s_name);
    if (w == by_name.end()) continue;  // reported as missing later
    loaded.insert(w_name);
    if (s == by_name.end()) {
      problems.push_back(
          cat("int8 model: missing ", s_name, " (the scales of ", w->second->name, ")"));
      by_name.erase(w);
      continue;
    }
    auto& lin = **slot.linear;
    const io::TensorInfo &wi = *w->second, &si = *s->second;
    if (wi.dtype != io::DType::I8 || at::IntArrayRef(wi.shape) != lin.weight.sizes()) {
      problems.push_back(cat("int8 model: ", wi.name, " must be I8 ", shape_str(lin.weight.sizes()),
                             ", found ", dtype_name(wi.dtype), " ", shape_str(wi.shape)));
    } else if (si.dtype != io::DType::F32 && si.dtype != io::DType::F16 &&
               si.dtype != io::DType::BF16) {
      problems.push_back(
          cat("int8 model: ", si.name, " must be a float type, found ", dtype_name(si.dtype)));
    } else {
      try {
        *slot.packed =
            int8_linear(io::to_tensor(file, wi), io::to_tensor(file, si), lin.bias, wi.name);
        lin.weight.copy_(slot.packed->dequantized());
      } catch (const Error& e) {
        problems.push_back(e.what());
      }
    }
    by_name.erase(w);
    by_name.erase(s);
  }
  return loaded;
}

}  // namespace

void check_sizes(const BertConfig& c, const io::SafetensorsFile& file,
                 const std::string& config_path) {
  const auto tensors = by_model_name(file);
  auto expect = [&](const std::string& name, std::vector<int64_t> shape, const std::string& why) {
    auto it = tensors.find(name);
    if (it == tensors.end() || it->second->shape == shape) return;
    fail(config_path, ": ", why, " give ", name, " ", shape_str(shape), ", but ", file.source(),
         " has ", it->second->name, " ", shape_str(it->second->shape),
         ": this config.json does not belong to these weights");
  };
  const int64_t H = c.hidden_size;
  expect("bert.embeddings.word_embeddings.weight", {c.vocab_size, H},
         cat("vocab_size ", c.vocab_size, " and hidden_size ", H));
  expect("bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, H},
         cat("max_position_embeddings ", c.max_position_embeddings, " and hidden_size ", H));
  expect("bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, H},
         cat("type_vocab_size ", c.type_vocab_size, " and hidden_size ", H));
  expect("bert.encoder.layer.0.intermediate.dense.weight", {c.intermediate_size, H},
         cat("intermediate_size ", c.intermediate_size, " and hidden_size ", H));
  int64_t layers = 0;
  const std::string prefix = "bert.encoder.layer.";
  for (const auto& [name, info] : tensors)
    if (name.starts_with(prefix))
      layers = std::max<int64_t>(layers, std::atoll(name.c_str() + prefix.size()) + 1);
  if (layers > 0 && layers != c.num_hidden_layers)
    fail(config_path, ": num_hidden_layers is ", c.num_hidden_layers, ", but ", file.source(),
         " has ", layers, " layers: this config.json does not belong to these weights");
  auto head = tensors.find("classifier.weight");
  if (has_labels(c.architecture) && head != tensors.end() && head->second->shape.size() == 2 &&
      head->second->shape[0] != c.num_labels()) {
    fail("label count mismatch: ", file.source(), " has a classifier for ", head->second->shape[0],
         " labels, but ", c.num_labels(), " are expected ", label_list(c.labels),
         "; a classifier trained for other labels cannot be reused as is: start from the "
         "pre-trained encoder, or give the labels it was trained with");
  }
}

std::string LoadReport::summary() const {
  std::string s;
  if (!initialized.empty()) {
    s += "newly initialised (not in the checkpoint; train before use):";
    for (const auto& n : initialized) s += " " + n;
    s += "\n";
  }
  if (!ignored.empty()) {
    s += "ignored (heads this model does not have):";
    for (const auto& n : ignored) s += " " + n;
    s += "\n";
  }
  return s;
}

LoadReport load_state(AutoBertImpl& model, const io::SafetensorsFile& file) {
  std::map<std::string, const io::TensorInfo*> by_name;
  std::vector<std::string> problems;
  const io::TensorInfo* tied_decoder = nullptr;
  for (const auto& info : file.tensors()) {
    if (info.name == "cls.predictions.decoder.weight") {
      tied_decoder = &info;
      continue;
    }
    std::string key = canonical_key(info.name);
    if (key.empty()) continue;
    auto [it, inserted] = by_name.emplace(key, &info);
    if (!inserted && it->second->name != info.name &&
        !(key == "cls.predictions.bias"))  // decoder.bias duplicates predictions.bias in old files
      problems.push_back(
          cat("duplicate: ", info.name, " and ", it->second->name, " both give ", key));
  }
  // The decoder weight is tied to the word embeddings; a file holding only the decoder still loads.
  if (tied_decoder && !by_name.count("bert.embeddings.word_embeddings.weight"))
    by_name["bert.embeddings.word_embeddings.weight"] = tied_decoder;

  LoadReport report;
  std::vector<std::string> missing;
  torch::NoGradGuard no_grad;
  const auto int8_loaded =
      model.config.int8 ? load_int8(model, file, by_name, problems) : std::set<std::string>{};
  auto params = model.named_parameters(/*recurse=*/true);
  for (auto& item : params) {
    const std::string& name = item.key();
    if (int8_loaded.count(name)) continue;
    at::Tensor& param = item.value();
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      if (is_head_key(name))
        report.initialized.push_back(name);
      else
        missing.push_back(cat(name, " ", shape_str(param.sizes())));
      continue;
    }
    const io::TensorInfo& info = *it->second;
    if (info.dtype != io::DType::F32 && info.dtype != io::DType::F16 &&
        info.dtype != io::DType::BF16 && info.dtype != io::DType::F64)
      problems.push_back(cat("wrong dtype: ", info.name, " is ", dtype_name(info.dtype),
                             ", expected a float type (F32, F16, BF16)"));
    else if (at::IntArrayRef(info.shape) != param.sizes())
      problems.push_back(cat("shape mismatch: ", info.name, " expected ", shape_str(param.sizes()),
                             " found ", shape_str(info.shape)));
    else if (param.copy_(io::to_tensor(file, info)); !at::isfinite(param).all().item<bool>())
      problems.push_back(cat("non-finite values (NaN or inf): ", info.name,
                             " (a diverged run, or a corrupted file)"));
    by_name.erase(it);
  }
  if (tied_decoder && at::IntArrayRef(tied_decoder->shape) !=
                          model.bert->embeddings->word_embeddings->weight.sizes())
    problems.push_back(cat("shape mismatch: cls.predictions.decoder.weight expected ",
                           shape_str(model.bert->embeddings->word_embeddings->weight.sizes()),
                           " found ", shape_str(tied_decoder->shape)));
  for (const auto& [key, info] : by_name) {
    if (is_head_key(key))
      report.ignored.push_back(info->name);
    else
      problems.push_back(cat("unexpected: ", info->name, " ", shape_str(info->shape)));
  }
  for (const auto& m : missing) problems.insert(problems.begin(), "missing: " + m);
  if (!problems.empty()) {
    std::string msg =
        cat(file.source(), " does not fit a ", architecture_name(model.config.architecture),
            " with this config (model is corrupted or incomplete):");
    constexpr size_t kShown = 20;  // a file of junk tensors would otherwise give megabytes
    for (size_t i = 0; i < std::min(kShown, problems.size()); ++i) msg += "\n  " + problems[i];
    if (problems.size() > kShown) msg += cat("\n  ... and ", problems.size() - kShown, " more");
    throw Error(msg);
  }
  return report;
}

LoadedModel load_model(const std::string& dir, const LoadOptions& options) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) fail("model directory ", dir, " does not exist");
  const fs::path weights = root / "model.safetensors";
  if (!fs::exists(weights)) {
    if (fs::exists(root / "pytorch_model.bin"))
      fail(dir,
           " has only pytorch_model.bin; tinybert reads model.safetensors. Convert it with: "
           "python3 -c \"from transformers import AutoModel; "
           "AutoModel.from_pretrained('",
           dir, "').save_pretrained('", dir, "')\"");
    fail(dir, " has no model.safetensors");
  }
  const std::string config_path = (root / "config.json").string();
  BertConfig config = BertConfig::load(config_path);
  if (options.architecture) {
    if (has_labels(config.architecture) && has_labels(*options.architecture) &&
        config.architecture != *options.architecture)
      fail(dir, " is a ", architecture_name(config.architecture), ", not a ",
           architecture_name(*options.architecture),
           ": its classifier was trained for another kind of task; start from its pre-trained "
           "encoder instead");
    config.architecture = *options.architecture;
  }
  if (options.labels) config.labels = *options.labels;
  if (has_labels(config.architecture) && config.labels.empty()) config.labels = default_labels(2);
  config.validate(config_path);
  if (fs::exists(root / "vocab.txt")) {
    const size_t entries = text::Vocab::load((root / "vocab.txt").string()).size();
    if (static_cast<int64_t>(entries) > config.vocab_size)
      fail((root / "vocab.txt").string(), " has ", entries, " entries but ", config_path,
           " says vocab_size ", config.vocab_size,
           ": token ids past the embedding table would fail or read garbage");
  }
  if (config.int8 && !options.allow_int8)
    fail(dir,
         " is an int8 model (quantization_config in its config.json), for inference only "
         "(predict, eval, bench, serve, inspect, export): train from the fp32 model it was "
         "quantized from");
  if (config.int8 && options.device != c10::kCPU)
    fail(dir, " is an int8 model: it runs on the CPU only, not on ", options.device.str());
  if (config.int8 && options.dtype != c10::kFloat)
    fail(dir, " is an int8 model: its other layers run in fp32, not ", c10::toString(options.dtype),
         " (drop --bf16)");
  const auto file = io::SafetensorsFile::load(weights.string());
  check_sizes(config, file, config_path);

  LoadedModel out;
  out.model = init_model(config, options.seed);
  out.report = load_state(*out.model, file);
  out.model->to(options.device, options.dtype);
  out.model->eval();
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> hf_state_dict(AutoBertImpl& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const bool base = model.config.architecture == Architecture::Base;
  std::map<std::string, const PackedLinear*> int8;
  if (model.config.int8)
    for (const auto& slot : linear_slots(*model.bert))
      int8["bert." + slot.name + ".weight"] = slot.packed;
  for (const auto& item : model.named_parameters(true)) {
    std::string name = item.key();
    const auto q = int8.find(name);
    if (base && name.starts_with("bert.")) name = name.substr(5);
    if (q == int8.end()) {
      out.emplace_back(name, item.value().detach().to(at::kCPU, at::kFloat));
    } else {
      out.emplace_back(name, q->second->weight);
      out.emplace_back(name + "_scale", q->second->scale.unsqueeze(1));  // (out, 1)
    }
  }
  return out;
}

void save_model(AutoBertImpl& model, const text::Tokenizer& tokenizer, const std::string& dir) {
  const std::string tmp = io::temp_sibling(dir);
  try {
    fs::create_directories(tmp);
    write_model_files(model, tokenizer, tmp);
    io::replace_directory(tmp, dir);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp);
    fail("cannot save the model to ", dir, ": ", e.what());
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
}

void write_model_files(AutoBertImpl& model, const text::Tokenizer& tokenizer,
                       const std::string& dir) {
  const fs::path d(dir);
  io::save_tensors((d / "model.safetensors").string(), hf_state_dict(model));
  io::write_file_atomic((d / "config.json").string(), model.config.to_json().dump(2) + "\n");
  tokenizer.save(dir, model.config.max_position_embeddings);
}

}  // namespace tinybert::model
