// The HF-made reference tensors of tests/fixtures/hf and the max-difference measure the parity
// tests compare them with.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>

#include "tinybert/io/tensor_file.h"
#include "tinybert/model/bert.h"

namespace tinybert::fixtures {

inline const std::map<std::string, torch::Tensor>& reference() {
  static auto r = io::load_tensors(std::string(TINYBERT_FIXTURES) + "/reference.safetensors");
  return r;
}

// The reference batch, with the given ids (the MLM's masked ones: "mlm.input_ids").
inline model::BertInputs reference_inputs(const std::string& ids_key = "input_ids") {
  const auto& r = reference();
  return {r.at(ids_key), r.at("token_type_ids"), r.at("attention_mask")};
}

// Largest absolute difference, in double; a shape mismatch fails the test and returns infinity.
inline double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace tinybert::fixtures
