// LibTorch tensors to and from safetensors files.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tinybert/io/safetensors.h"

namespace tinybert::io {

// A CPU tensor holding a copy of one entry of `file`.
at::Tensor to_tensor(const SafetensorsFile& file, const TensorInfo& info);
// Every tensor of a file, by name.
std::map<std::string, at::Tensor> load_tensors(const std::string& path);
// Writes tensors (moved to CPU, made contiguous) atomically.
void save_tensors(const std::string& path,
                  const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

c10::ScalarType scalar_type(DType dtype);
DType dtype_of(c10::ScalarType type);  // fails for types safetensors cannot hold

}  // namespace tinybert::io
