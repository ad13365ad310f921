// Dynamic int8 quantization of a model directory (`tinybert quantize`).
#pragma once

#include <cstdint>
#include <string>

namespace tinybert::deploy {

// What quantization did, for the command's summary.
struct QuantizeReport {
  int64_t layers = 0;                         // Linear layers now int8
  int64_t bytes_before = 0, bytes_after = 0;  // model.safetensors sizes
  double max_weight_error = 0;                // max |w - dequantized w| over those layers
  std::string engine;                         // the quantized engine that will run them
};

// Writes the int8 form of the fp32 model in `model_dir` to `out_dir` (HF layout: int8 encoder
// Linear weights with per-channel scales, config.json's quantization_config; the directory is
// put in place whole). Refuses an int8 model, `out_dir` equal to `model_dir`, and an existing
// `out_dir` that is neither empty nor a model directory.
QuantizeReport quantize_model(const std::string& model_dir, const std::string& out_dir);

}  // namespace tinybert::deploy
