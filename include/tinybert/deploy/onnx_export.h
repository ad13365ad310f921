// ONNX export of a BERT model (HF layout: model.onnx beside config.json and the tokenizer files,
// as HF Optimum writes it), built with the ONNX library's protobuf types and checked by its
// checker.
#pragma once

#include <cstdint>
#include <string>

#include "tinybert/model/heads.h"

namespace tinybert::deploy {

// Whether this build has the ONNX library (libonnx-dev found by CMake).
bool onnx_available();

// The ONNX model of `m` (eval mode; an int8 model's int8 layers as QuantizeLinear +
// MatMulInteger with the same arithmetic) as serialized bytes: inputs input_ids,
// attention_mask, token_type_ids (int64, dynamic batch_size and sequence_length); outputs as HF's
// export names them: "logits" for BertForSequenceClassification (B, num_labels) and
// BertForMaskedLM (B, T, V), "prediction_logits" and "seq_relationship_logits" for
// BertForPreTraining, "last_hidden_state" (and "pooler_output") for BertModel. Standard ops of
// the default domain only; opset 13..17 (17: LayerNormalization, else its decomposition).
std::string onnx_model(model::AutoBertImpl& m, int64_t opset);

// Loads the model directory `model_dir` and writes OUT_DIR/model.onnx with its config.json,
// vocab.txt and tokenizer_config.json beside it (each file written atomically).
void export_onnx(const std::string& model_dir, const std::string& out_dir, int64_t opset);

}  // namespace tinybert::deploy
