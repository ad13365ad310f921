// The pretrained-model directory (HF format: config.json + model.safetensors + vocab.txt +
// tokenizer_config.json): loaded by tensor name with every missing, unexpected or mis-shaped tensor
// reported, and saved atomically so that transformers' from_pretrained(dir) loads it.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <vector>

#include "tinybert/io/safetensors.h"
#include "tinybert/model/heads.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::model {

// What loading did besides copying tensors.
struct LoadReport {
  std::vector<std::string> initialized;  // model tensors absent from the file (heads only)
  std::vector<std::string> ignored;      // file tensors of heads this model does not have
  std::string summary() const;           // one line each, empty when nothing to say
};

// Copies the tensors of `file` into `model` by HF name, accepting the legacy aliases
// (LayerNorm.gamma/beta, keys without the "bert." prefix, cls.predictions.decoder.*, position_ids).
// Missing head tensors keep their initial values and are reported; anything else missing,
// unexpected or mis-shaped fails with all such tensors named.
LoadReport load_state(AutoBertImpl& model, const io::SafetensorsFile& file);

// Fails, naming the field and the tensor, when the sizes in a config.json disagree with the
// weights file (or a classifier's label count with its head); run before the model is built, so
// a wrong config never allocates.
void check_sizes(const BertConfig& c, const io::SafetensorsFile& file,
                 const std::string& config_path);

struct LoadOptions {
  std::optional<Architecture>
      architecture;  // override config.json's (e.g. a classifier from an MLM)
  std::optional<std::vector<std::string>> labels;  // for a new classification head
  c10::Device device = c10::kCPU;
  c10::ScalarType dtype = c10::kFloat;
  uint64_t seed = 42;  // for tensors that are initialised rather than loaded
  // Inference commands accept an int8 model (config.int8; CPU and fp32 only); the others refuse
  // one, since training would update its fp32 weights behind its int8 layers.
  bool allow_int8 = false;
};

struct LoadedModel {
  AutoBert model{nullptr};
  LoadReport report;
};

// Loads a model directory; the model is returned in eval mode.
LoadedModel load_model(const std::string& dir, const LoadOptions& options = {});

// Writes `model` (its config included) with `tokenizer`'s vocabulary into `dir`: everything goes to
// a temporary sibling directory first, which then replaces `dir`.
void save_model(AutoBertImpl& model, const text::Tokenizer& tokenizer, const std::string& dir);

// Writes the model's files into an existing directory (no swapping); for callers that assemble
// a directory of their own (a training checkpoint) before putting it in place.
void write_model_files(AutoBertImpl& model, const text::Tokenizer& tokenizer,
                       const std::string& dir);

// The state dict as HF names it (no "bert." prefix for a base BertModel), in fp32 on the CPU; in
// an int8 model the int8 layers' weights are int8, each with its "<name>.weight_scale" (out, 1).
std::vector<std::pair<std::string, at::Tensor>> hf_state_dict(AutoBertImpl& model);

}  // namespace tinybert::model
