// Conversion between safetensors entries and at::Tensor.
#include "tinybert/io/tensor_file.h"

#include <ATen/ATen.h>

#include <cstring>

#include "tinybert/core/error.h"

namespace tinybert::io {

namespace {
constexpr std::pair<DType, c10::ScalarType> kTypes[] = {
    {DType::F64, at::kDouble},    {DType::F32, at::kFloat}, {DType::F16, at::kHalf},
    {DType::BF16, at::kBFloat16}, {DType::I64, at::kLong},  {DType::I32, at::kInt},
    {DType::I16, at::kShort},     {DType::I8, at::kChar},   {DType::U8, at::kByte},
    {DType::BOOL, at::kBool}};
}  // namespace

c10::ScalarType scalar_type(DType dtype) {
  for (auto [d, s] : kTypes)
    if (d == dtype) return s;
  fail("no tensor type for dtype ", dtype_name(dtype));
}

DType dtype_of(c10::ScalarType type) {
  for (auto [d, s] : kTypes)
    if (s == type) return d;
  fail("tensor type ", c10::toString(type), " cannot be stored in safetensors");
}

at::Tensor to_tensor(const SafetensorsFile& file, const TensorInfo& info) {
  auto t = at::empty(info.shape, at::TensorOptions().dtype(scalar_type(info.dtype)));
  if (info.end > info.begin) std::memcpy(t.data_ptr(), file.data(info), info.end - info.begin);
  return t;
}

std::map<std::string, at::Tensor> load_tensors(const std::string& path) {
  auto file = SafetensorsFile::load(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& info : file.tensors()) out.emplace(info.name, to_tensor(file, info));
  return out;
}

void save_tensors(const std::string& path,
                  const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;  // contiguous CPU copies alive until written
  std::vector<TensorBytes> entries;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(at::kCPU).contiguous());
    const auto& c = keep.back();
    entries.push_back({name, dtype_of(c.scalar_type()), c.sizes().vec(), c.data_ptr(),
                       static_cast<size_t>(c.numel()) * c.element_size()});
  }
  save_safetensors(path, std::move(entries), metadata);
}

}  // namespace tinybert::io
