// The safetensors format (https://github.com/huggingface/safetensors), read strictly and written
// atomically. Layout: u64 little-endian N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the byte buffer; offsets are relative to the buffer, which every tensor tiles without holes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tinybert::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "F32", as in the header

struct TensorInfo {
  std::string name;  // "bert.encoder.layer.0.attention.self.query.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // [768, 768]
  size_t begin = 0, end = 0;   // byte offsets into the data buffer
  int64_t numel() const;
};

// A parsed safetensors file held in memory; every offset, size and dtype already validated.
class SafetensorsFile {
 public:
  // Reads and validates `path`; errors name the file and what is wrong.
  static SafetensorsFile load(const std::string& path);
  // Validates `bytes`; `source` names them in errors.
  static SafetensorsFile parse(std::string bytes, const std::string& source);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const TensorInfo* find(std::string_view name) const;
  const std::byte* data(const TensorInfo& t) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& source() const { return source_; }

 private:
  std::string bytes_;
  size_t data_start_ = 0;
  std::string source_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes in row-major order.
struct TensorBytes {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Serializes tensors (sorted by name in the output) with optional string metadata.
std::string serialize_safetensors(std::vector<TensorBytes> tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// serialize_safetensors, written atomically to `path`.
void save_safetensors(const std::string& path, std::vector<TensorBytes> tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tinybert::io
