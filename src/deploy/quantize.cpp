// `tinybert quantize`: an fp32 model directory -> its dynamic-int8 form, saved HF-style.
#include "tinybert/deploy/quantize.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "tinybert/core/error.h"
#include "tinybert/model/pretrained.h"

namespace tinybert::deploy {

namespace fs = std::filesystem;

namespace {

// Fails unless `out_dir` is free to be replaced by a model directory.
void check_output(const std::string& model_dir, const std::string& out_dir) {
  std::error_code ec;
  if (!fs::exists(out_dir)) return;
  if (fs::equivalent(model_dir, out_dir, ec))
    fail("--output ", out_dir, " is the model directory; write the int8 model to a new one");
  if (!fs::is_directory(out_dir)) fail("--output ", out_dir, " exists and is not a directory");
  if (!fs::is_empty(out_dir) && !fs::exists(fs::path(out_dir) / "config.json"))
    fail("--output ", out_dir,
         " exists and is not a model directory (no config.json); it would be replaced whole: "
         "pick a new directory");
}

}  // namespace

QuantizeReport quantize_model(const std::string& model_dir, const std::string& out_dir) {
  check_output(model_dir, out_dir);
  auto loaded = model::load_model(model_dir, {.allow_int8 = true});
  auto& m = *loaded.model;
  if (m.config.int8) fail(model_dir, " is already an int8 model");
  QuantizeReport r;
  r.bytes_before = static_cast<int64_t>(fs::file_size(fs::path(model_dir) / "model.safetensors"));
  std::vector<torch::Tensor> before;
  for (auto& slot : model::linear_slots(*m.bert)) before.push_back((*slot.linear)->weight.clone());
  model::quantize_encoder(*m.bert);
  m.config.int8 = m.bert->config.int8 = true;
  size_t i = 0;
  for (auto& slot : model::linear_slots(*m.bert)) {
    const double err = (before[i++] - (*slot.linear)->weight).abs().max().item<double>();
    r.max_weight_error = std::max(r.max_weight_error, err);
    ++r.layers;
  }
  model::save_model(m, text::Tokenizer::from_dir(model_dir), out_dir);
  r.bytes_after = static_cast<int64_t>(fs::file_size(fs::path(out_dir) / "model.safetensors"));
  r.engine = model::int8_engine();
  return r;
}

}  // namespace tinybert::deploy
