// The BERT graph in ONNX: embeddings, encoder layers and the HF heads, node by node, with the
// weights as initializers.
#include "tinybert/deploy/onnx_export.h"

#include <torch/torch.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "tinybert/core/error.h"
#include "tinybert/io/atomic_file.h"
#include "tinybert/model/packed_linear.h"
#include "tinybert/model/pretrained.h"
#include "tinybert/text/tokenizer.h"

#ifdef TINYBERT_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif

namespace tinybert::deploy {

namespace fs = std::filesystem;

#ifdef TINYBERT_WITH_ONNX

bool onnx_available() {
  return true;
}

namespace {

// Builds the graph: named values, one node at a time.
class GraphBuilder {
 public:
  GraphBuilder(::onnx::GraphProto& g, int64_t opset, std::map<std::string, at::Tensor> weights)
      : g_(g), opset_(opset), weights_(std::move(weights)) {}

  // The initializer of checkpoint tensor `name` (transposed for a Linear's MatMul), added once.
  std::string weight(const std::string& name, bool transpose = false) {
    const std::string value = transpose ? name + ".T" : name;
    if (!added_.insert(value).second) return value;
    auto it = weights_.find(name);
    if (it == weights_.end()) fail("ONNX export: the model has no tensor \"", name, "\"");
    at::Tensor t = (transpose ? it->second.t() : it->second).contiguous();
    add_initializer(value, t);
    return value;
  }
  std::string constant(const std::string& name, const at::Tensor& t) {
    if (added_.insert(name).second) add_initializer(name, t.contiguous());
    return name;
  }
  std::string scalar(float v) {  // named by its bits: two floats never share a name
    return constant(cat("const.f", std::bit_cast<uint32_t>(v)), torch::tensor(v));
  }
  std::string ints(const std::vector<int64_t>& v) {
    std::string name = "const.i";
    for (auto x : v) name += cat("_", x);
    return constant(name, torch::tensor(v, torch::kLong));
  }

  // One node; returns its (first) output's name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<std::pair<std::string, int64_t>>& int_attrs = {},
                   const std::string& out = {}) {
    auto* n = g_.add_node();
    const std::string name = out.empty() ? cat(op, "_", g_.node_size()) : out;
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(name);
    for (const auto& [k, v] : int_attrs) {
      auto* a = n->add_attribute();
      a->set_name(k);
      a->set_type(::onnx::AttributeProto::INT);
      a->set_i(v);
    }
    return name;
  }
  std::string node_ints(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& attr, const std::vector<int64_t>& values) {
    const std::string out = node(op, inputs);
    auto* a = g_.mutable_node(g_.node_size() - 1)->add_attribute();
    a->set_name(attr);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto v : values) a->add_ints(v);
    return out;
  }
  // x (..., in) W^T + b for checkpoint Linear `prefix` (.weight (out, in), .bias (out)); an int8
  // Linear (with .weight_scale) as int8_linear.
  std::string linear(const std::string& x, const std::string& prefix) {
    if (weights_.count(prefix + ".weight_scale")) return int8_linear(x, prefix);
    return node("Add",
                {node("MatMul", {x, weight(prefix + ".weight", true)}), weight(prefix + ".bias")});
  }
  // The arithmetic of model::PackedLinear in standard ops: x quantized per call to uint8 0..127
  // (scale (max - min) / 127 over a range widened to hold 0, zero point round(-min / scale), as
  // PyTorch's ChooseQuantizationParams with reduce_range), MatMulInteger with the int8 weight
  // (in, out), the int32 sums rescaled by scale * weight_scale (out), plus the bias.
  std::string int8_linear(const std::string& x, const std::string& prefix) {
    const auto& [xq, scale, zero] = quantized(x);
    const auto sums = node("MatMulInteger", {xq, weight(prefix + ".weight", true), zero});
    const auto rescale = node("Mul", {scale, weight(prefix + ".weight_scale.flat")});  // (out)
    return node("Add",
                {node("Mul", {node("Cast", {sums}, {{"to", ::onnx::TensorProto::FLOAT}}), rescale}),
                 weight(prefix + ".bias")});
  }
  // x quantized per call: (uint8 values, scale, zero point), built once per value (the query,
  // key and value projections share theirs, as the fused int8 projection does).
  struct Quantized {
    std::string values, scale, zero;
  };
  const Quantized& quantized(const std::string& x) {
    if (auto it = quantized_.find(x); it != quantized_.end()) return it->second;
    const auto lo = node("Min", {node("ReduceMin", {x}, {{"keepdims", 0}}), scalar(0.0f)});
    const auto hi = node("Max", {node("ReduceMax", {x}, {{"keepdims", 0}}), scalar(0.0f)});
    auto scale = node("Div", {node("Sub", {hi, lo}), scalar(float(model::kInt8ActivationMax))});
    scale = node("Where", {node("Equal", {scale, scalar(0.0f)}), scalar(0.1f), scale});
    const auto zero = node("Cast", {node("Round", {node("Div", {node("Neg", {lo}), scale})})},
                           {{"to", ::onnx::TensorProto::UINT8}});
    const auto values = node("QuantizeLinear", {x, scale, zero});  // (..., in) uint8
    return quantized_.emplace(x, Quantized{values, scale, zero}).first->second;
  }
  // LayerNorm over the last axis with checkpoint `prefix` (.weight, .bias).
  std::string layer_norm(const std::string& x, const std::string& prefix, double eps) {
    const std::string gamma = weight(prefix + ".weight"), beta = weight(prefix + ".bias");
    if (opset_ >= 17) {
      auto* n = g_.add_node();
      const std::string name = cat("LayerNormalization_", g_.node_size());
      n->set_op_type("LayerNormalization");
      n->set_name(name);
      for (const auto& i : {x, gamma, beta}) n->add_input(i);
      n->add_output(name);
      auto* a = n->add_attribute();
      a->set_name("axis");
      a->set_type(::onnx::AttributeProto::INT);
      a->set_i(-1);
      a = n->add_attribute();
      a->set_name("epsilon");
      a->set_type(::onnx::AttributeProto::FLOAT);
      a->set_f(static_cast<float>(eps));
      return name;
    }
    const auto mean = node_ints("ReduceMean", {x}, "axes", {-1});
    const auto d = node("Sub", {x, mean});
    const auto var = node_ints("ReduceMean", {node("Mul", {d, d})}, "axes", {-1});
    const auto norm =
        node("Div", {d, node("Sqrt", {node("Add", {var, scalar(static_cast<float>(eps))})})});
    return node("Add", {node("Mul", {norm, gamma}), beta});
  }
  // The configured activation (gelu: erf form, gelu_new: tanh form, relu).
  std::string activation(const std::string& x, const std::string& act) {
    if (act == "relu") return node("Relu", {x});
    if (act == "gelu") {
      const auto e = node("Erf", {node("Mul", {x, scalar(static_cast<float>(M_SQRT1_2))})});
      return node("Mul", {node("Mul", {x, scalar(0.5f)}), node("Add", {e, scalar(1.0f)})});
    }
    if (act == "gelu_new") {
      const auto cube = node("Mul", {node("Mul", {x, x}), x});
      const auto inner = node("Mul", {node("Add", {x, node("Mul", {cube, scalar(0.044715f)})}),
                                      scalar(static_cast<float>(std::sqrt(2.0 / M_PI)))});
      return node("Mul", {node("Mul", {x, scalar(0.5f)}),
                          node("Add", {node("Tanh", {inner}), scalar(1.0f)})});
    }
    fail("ONNX export: hidden_act \"", act, "\" is not supported (gelu, gelu_new, relu)");
  }

  void input(const std::string& name) {
    value_info(g_.add_input(), name, ::onnx::TensorProto::INT64, {"batch_size", "sequence_length"});
  }
  void output(const std::string& value, const std::string& name,
              const std::vector<std::string>& dims) {
    node("Identity", {value}, {}, name);
    value_info(g_.add_output(), name, ::onnx::TensorProto::FLOAT, dims);
  }

 private:
  void add_initializer(const std::string& name, const at::Tensor& t) {
    auto* p = g_.add_initializer();
    p->set_name(name);
    for (auto d : t.sizes()) p->add_dims(d);
    if (t.scalar_type() == at::kLong) {
      p->set_data_type(::onnx::TensorProto::INT64);
    } else if (t.scalar_type() == at::kChar) {
      p->set_data_type(::onnx::TensorProto::INT8);
    } else {
      TORCH_CHECK(t.scalar_type() == at::kFloat);
      p->set_data_type(::onnx::TensorProto::FLOAT);
    }
    p->set_raw_data(t.data_ptr(), static_cast<size_t>(t.numel() * t.element_size()));
  }
  static void value_info(::onnx::ValueInfoProto* v, const std::string& name, int elem,
                         const std::vector<std::string>& dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    for (const auto& d : dims) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0])))
        dim->set_dim_value(std::stoll(d));
      else
        dim->set_dim_param(d);
    }
  }

  ::onnx::GraphProto& g_;
  int64_t opset_;
  std::map<std::string, at::Tensor> weights_;
  std::set<std::string> added_;
  std::map<std::string, Quantized> quantized_;  // by the quantized value's name
};

// One encoder layer: x (B, T, H), mask (B, 1, 1, T) additive -> (B, T, H).
std::string encoder_layer(GraphBuilder& b, const model::BertConfig& c, const std::string& x,
                          const std::string& mask, const std::string& p) {
  const int64_t heads = c.num_attention_heads, d = c.head_size();
  auto split = [&](const std::string& name, std::vector<int64_t> perm) {  // -> (B, h, ., .)
    const auto y =
        b.node("Reshape", {b.linear(x, p + "attention.self." + name), b.ints({0, 0, heads, d})});
    return b.node_ints("Transpose", {y}, "perm", perm);
  };
  const auto q = split("query", {0, 2, 1, 3}), k = split("key", {0, 2, 3, 1}),
             v = split("value", {0, 2, 1, 3});
  auto scores =
      b.node("Mul", {b.node("MatMul", {q, k}), b.scalar(1.0f / std::sqrt(static_cast<float>(d)))});
  const auto probs =
      b.node("Softmax", {b.node("Add", {scores, mask})}, {{"axis", -1}});  // (B, h, T, T)
  auto ctx = b.node_ints("Transpose", {b.node("MatMul", {probs, v})}, "perm", {0, 2, 1, 3});
  ctx = b.node("Reshape", {ctx, b.ints({0, 0, c.hidden_size})});  // (B, T, H)
  const auto h1 = b.layer_norm(b.node("Add", {b.linear(ctx, p + "attention.output.dense"), x}),
                               p + "attention.output.LayerNorm", c.layer_norm_eps);
  const auto inter = b.activation(b.linear(h1, p + "intermediate.dense"), c.hidden_act);
  return b.layer_norm(b.node("Add", {b.linear(inter, p + "output.dense"), h1}),
                      p + "output.LayerNorm", c.layer_norm_eps);
}

}  // namespace

std::string onnx_model(model::AutoBertImpl& m, int64_t opset) {
  if (opset < 13 || opset > 17) fail("--opset must be in [13, 17], found ", opset);
  const auto& c = m.config;
  std::map<std::string, at::Tensor> weights;
  int64_t bytes = 0;
  for (auto& [name, t] : model::hf_state_dict(m)) {
    bytes += t.numel() * t.element_size();
    if (name.ends_with(".weight_scale")) weights.emplace(name + ".flat", t.flatten());  // (out)
    weights.emplace(name, t);
  }
  if (bytes >= (int64_t{2} << 30) - (64 << 20))
    fail("ONNX export: ", bytes >> 20, " MiB of weights; one protobuf file holds under 2 GiB");
  ::onnx::ModelProto model;
  model.set_ir_version(opset >= 15 ? 8 : 7);
  model.set_producer_name("tinybert");
  model.set_producer_version("0.1.0");
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto& g = *model.mutable_graph();
  g.set_name(model::architecture_name(c.architecture));
  GraphBuilder b(g, opset, std::move(weights));
  for (const char* name : {"input_ids", "attention_mask", "token_type_ids"}) b.input(name);
  const std::string p = c.architecture == model::Architecture::Base ? "" : "bert.";

  // embeddings: word + position + token type, LayerNorm -> (B, T, H)
  const auto seq = b.node("Gather", {b.node("Shape", {"input_ids"}),
                                     b.constant("const.one_i", torch::tensor(int64_t{1}))});
  const auto positions =
      b.node("Range", {b.constant("const.zero_i", torch::tensor(int64_t{0})), seq, "const.one_i"});
  auto x = b.node(
      "Add",
      {b.node("Gather", {b.weight(p + "embeddings.word_embeddings.weight"), "input_ids"}),
       b.node("Gather", {b.weight(p + "embeddings.position_embeddings.weight"), positions})});
  x = b.node("Add", {x, b.node("Gather", {b.weight(p + "embeddings.token_type_embeddings.weight"),
                                          "token_type_ids"})});
  x = b.layer_norm(x, p + "embeddings.LayerNorm", c.layer_norm_eps);
  // (1 - mask) * -10000 as (B, 1, 1, T), as BERT computes it
  const auto keep = b.node("Cast", {"attention_mask"}, {{"to", ::onnx::TensorProto::FLOAT}});
  const auto mask = b.node(
      "Unsqueeze", {b.node("Mul", {b.node("Sub", {b.scalar(1.0f), keep}), b.scalar(-10000.0f)}),
                    b.ints({1, 2})});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    x = encoder_layer(b, c, x, mask, cat(p, "encoder.layer.", l, "."));

  auto pooled = [&] {  // tanh(dense(hidden[:, 0])) -> (B, H)
    const auto cls = b.node("Gather", {x, "const.zero_i"}, {{"axis", 1}});
    return b.node("Tanh", {b.linear(cls, p + "pooler.dense")});
  };
  auto mlm = [&] {  // (B, T, V), the decoder tied to the word embeddings
    auto t = b.activation(b.linear(x, "cls.predictions.transform.dense"), c.hidden_act);
    t = b.layer_norm(t, "cls.predictions.transform.LayerNorm", c.layer_norm_eps);
    const auto wt = b.node_ints("Transpose", {b.weight(p + "embeddings.word_embeddings.weight")},
                                "perm", {1, 0});
    return b.node("Add", {b.node("MatMul", {t, wt}), b.weight("cls.predictions.bias")});
  };
  const std::vector<std::string> bt{"batch_size", "sequence_length"};
  switch (c.architecture) {
    case model::Architecture::SequenceClassification:
      b.output(b.linear(pooled(), "classifier"), "logits", {"batch_size", cat(c.num_labels())});
      break;
    case model::Architecture::TokenClassification:
      b.output(b.linear(x, "classifier"), "logits", {bt[0], bt[1], cat(c.num_labels())});
      break;
    case model::Architecture::QuestionAnswering: {    // HF's names: start_logits, end_logits (B, T)
      const auto logits = b.linear(x, "qa_outputs");  // (B, T, 2)
      b.output(b.node("Gather", {logits, "const.zero_i"}, {{"axis", 2}}), "start_logits", bt);
      b.output(b.node("Gather", {logits, "const.one_i"}, {{"axis", 2}}), "end_logits", bt);
      break;
    }
    case model::Architecture::MaskedLM:
      b.output(mlm(), "logits", {bt[0], bt[1], cat(c.vocab_size)});
      break;
    case model::Architecture::PreTraining:
      b.output(mlm(), "prediction_logits", {bt[0], bt[1], cat(c.vocab_size)});
      b.output(b.linear(pooled(), "cls.seq_relationship"), "seq_relationship_logits", {bt[0], "2"});
      break;
    case model::Architecture::Base:
      b.output(x, "last_hidden_state", {bt[0], bt[1], cat(c.hidden_size)});
      if (m.bert->pooler) b.output(pooled(), "pooler_output", {bt[0], cat(c.hidden_size)});
      break;
  }
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail("ONNX export: the ONNX checker refused the graph: ", e.what());
  }
  std::string out;
  if (!model.SerializeToString(&out)) fail("ONNX export: cannot serialize the model");
  return out;
}

#else

bool onnx_available() {
  return false;
}

std::string onnx_model(model::AutoBertImpl&, int64_t) {
  fail("this build has no ONNX library: install libonnx-dev (scripts/setup.sh does) and rebuild");
}

#endif

void export_onnx(const std::string& model_dir, const std::string& out_dir, int64_t opset) {
  std::error_code ec;
  if (fs::exists(out_dir) && fs::equivalent(model_dir, out_dir, ec))
    fail("--output ", out_dir, " is the model directory; export into a directory of its own");
  auto loaded = model::load_model(model_dir, {.allow_int8 = true});
  auto tok = text::Tokenizer::from_dir(model_dir);
  const std::string bytes = onnx_model(*loaded.model, opset);
  fs::create_directories(out_dir);
  io::write_file_atomic((fs::path(out_dir) / "model.onnx").string(), bytes);
  io::write_file_atomic((fs::path(out_dir) / "config.json").string(),
                        loaded.model->config.to_json().dump(2) + "\n");
  tok.save(out_dir, loaded.model->config.max_position_embeddings);
}

}  // namespace tinybert::deploy
