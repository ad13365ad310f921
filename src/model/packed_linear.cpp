// Inference Linears: int8 (per-channel weights, per-call inputs) on oneDNN or LibTorch's quantized
// engine; fp32 packed for oneDNN.
#include "tinybert/model/packed_linear.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

#include <algorithm>
#include <mutex>

#include "tinybert/core/error.h"

namespace tinybert::model {

namespace {

using Packed = c10::intrusive_ptr<LinearPackedParamsBase>;

// oneDNN first: on this AVX2 machine its dynamic linear ran TinyBERT4/BERT-base shapes 1.2-2.1x
// faster than fp32, QNNPACK's 2-30x slower (there is no FBGEMM in Debian's LibTorch).
at::QEngine select_engine() {
  static std::once_flag once;
  static at::QEngine engine = at::QEngine::NoQEngine;
  std::call_once(once, [] {
    const auto& supported = at::globalContext().supportedQEngines();
    for (auto e :
         {at::QEngine::ONEDNN, at::QEngine::X86, at::QEngine::FBGEMM, at::QEngine::QNNPACK})
      if (std::find(supported.begin(), supported.end(), e) != supported.end()) {
        engine = e;
        break;
      }
    if (engine != at::QEngine::NoQEngine) at::globalContext().setQEngine(engine);
  });
  if (engine == at::QEngine::NoQEngine)
    fail(
        "this LibTorch has no quantized engine (oneDNN, FBGEMM or QNNPACK): int8 models cannot "
        "run here; use the fp32 model");
  return engine;
}

PackedLinear pack(torch::Tensor weight, torch::Tensor scale, torch::Tensor bias) {
  if (DnnlMatmul::available()) {
    auto dnnl = DnnlMatmul::int8(weight, scale, bias);
    return {std::move(weight), std::move(scale), std::move(bias), {}, std::move(dnnl)};
  }
  select_engine();
  static auto prepack = c10::Dispatcher::singleton()
                            .findSchemaOrThrow("quantized::linear_prepack", "")
                            .typed<Packed(at::Tensor, c10::optional<at::Tensor>)>();
  const auto zero = torch::zeros({weight.size(0)}, torch::kLong);
  auto q = at::_make_per_channel_quantized_tensor(weight, scale.to(torch::kDouble), zero, 0);
  PackedLinear out{std::move(weight), std::move(scale), bias, {}};
  out.packed =
      prepack.call(q, bias.defined() ? c10::optional<at::Tensor>(bias.contiguous()) : c10::nullopt);
  return out;
}

// `e` less an activation oneDNN cannot fuse (the module then applies it itself).
DnnlEpilogue fusable(DnnlEpilogue e) {
  if (!DnnlEpilogue::fuses(e.activation)) e.activation.clear();
  return e;
}

}  // namespace

bool PackedLinear::serves(const torch::Tensor& x) const {
  if (torch::GradMode::is_enabled()) return false;
  if (int8()) return defined();
  if (!dnnl || !x.is_cpu() || x.scalar_type() != torch::kFloat) return false;
  for (size_t i = 0; i < sources.size(); ++i)
    if (sources[i].data_ptr() != stamps[i].first || sources[i]._version() != stamps[i].second)
      return false;
  return true;
}

void PackedLinear::track(std::vector<torch::Tensor> tensors) {
  sources = std::move(tensors);
  stamps.clear();
  for (const auto& t : sources) stamps.emplace_back(t.data_ptr(), t._version());
}

torch::Tensor PackedLinear::forward(const torch::Tensor& x, const torch::Tensor& residual) const {
  if (dnnl) return dnnl->forward(x, residual);
  static auto dynamic = c10::Dispatcher::singleton()
                            .findSchemaOrThrow("quantized::linear_dynamic", "")
                            .typed<at::Tensor(at::Tensor, const Packed&, bool)>();
  return dynamic.call(x.contiguous(), packed, /*reduce_range=*/true);
}

torch::Tensor PackedLinear::dequantized() const {
  return weight.to(torch::kFloat) * scale.unsqueeze(1);  // (out, in)
}

PackedLinear pack_fp32(const torch::Tensor& weight, const torch::Tensor& bias,
                       const DnnlEpilogue& epilogue) {
  const auto e = fusable(epilogue);
  PackedLinear out{weight, {}, bias, {}, DnnlMatmul::fp32(weight, bias, e)};
  out.epilogue = e;
  out.track(bias.defined() ? std::vector<torch::Tensor>{weight, bias}
                           : std::vector<torch::Tensor>{weight});
  return out;
}

PackedLinear with_epilogue(const PackedLinear& p, const DnnlEpilogue& epilogue) {
  const auto e = fusable(epilogue);
  if (!p.dnnl || (e.activation == p.epilogue.activation && e.residual == p.epilogue.residual))
    return p;
  PackedLinear out = p;
  out.epilogue = e;
  out.dnnl = p.int8() ? DnnlMatmul::int8(p.weight, p.scale, p.bias, e)
                      : DnnlMatmul::fp32(p.weight, p.bias, e);
  return out;
}

PackedLinear quantize_linear(const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::NoGradGuard no_grad;
  auto w = weight.detach().to(torch::kCPU, torch::kFloat);  // (out, in)
  auto scale = w.abs().amax(1).div(127.0);                  // (out)
  scale = torch::where(scale > 0, scale, torch::ones_like(scale));
  auto q = w.div(scale.unsqueeze(1)).round().clamp(-127, 127).to(torch::kChar);
  return pack(q, scale, bias.defined() ? bias.detach().to(torch::kCPU, torch::kFloat) : bias);
}

PackedLinear int8_linear(const torch::Tensor& weight, const torch::Tensor& scale,
                         const torch::Tensor& bias, const std::string& name) {
  if (weight.dim() != 2 || weight.scalar_type() != torch::kChar)
    fail(name, ": an int8 weight must be I8 with 2 dimensions (out, in)");
  const int64_t out = weight.size(0);
  auto s = scale.to(torch::kFloat);
  if (!(s.dim() == 1 || (s.dim() == 2 && s.size(1) == 1)) || s.size(0) != out)
    fail(name, "_scale: expected shape [", out, ", 1] (one scale per output channel), found ",
         s.sizes());
  s = s.reshape({out}).contiguous();
  if (!(s > 0).all().item<bool>() || !torch::isfinite(s).all().item<bool>())
    fail(name, "_scale: scales must be finite and positive (a corrupted file?)");
  if (weight.eq(-128).any().item<bool>())
    fail(name, ": int8 weights must lie in -127..127 (symmetric), found -128");
  return pack(weight.contiguous(), s, bias);
}

PackedLinear concat_int8(const std::vector<const PackedLinear*>& parts) {
  std::vector<torch::Tensor> w, s, b;
  for (const auto* p : parts) {
    w.push_back(p->weight);
    s.push_back(p->scale);
    b.push_back(p->bias);
  }
  return pack(torch::cat(w), torch::cat(s), b.front().defined() ? torch::cat(b) : torch::Tensor());
}

std::string int8_engine() {
  if (DnnlMatmul::available()) return "oneDNN matmul";
  return c10::toString(select_engine());
}

}  // namespace tinybert::model
