// Strict safetensors reader and writer.
#include "tinybert/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "tinybert/core/error.h"
#include "tinybert/core/json.h"
#include "tinybert/io/atomic_file.h"

namespace tinybert::io {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {{DType::F64, "F64", 8}, {DType::F32, "F32", 4},
                                  {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
                                  {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
                                  {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
                                  {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1}};

const DTypeEntry& entry(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e;
  fail("unknown dtype enum ", static_cast<int>(d));
}

DType parse_dtype(const std::string& s, const std::string& where) {
  for (const auto& e : kDTypes)
    if (e.name == s) return e.dtype;
  fail(where, ": unsupported dtype \"", s,
       "\" (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

uint64_t as_u64(const nlohmann::json& j, const std::string& where) {
  if (!j.is_number_unsigned()) fail(where, " must be a non-negative integer, found ", j.dump());
  return j.get<uint64_t>();
}

}  // namespace

size_t dtype_size(DType dtype) {
  return entry(dtype).size;
}
std::string_view dtype_name(DType dtype) {
  return entry(dtype).name;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::load(const std::string& path) {
  return parse(read_file(path), path);
}

SafetensorsFile SafetensorsFile::parse(std::string bytes, const std::string& source) {
  SafetensorsFile f;
  f.source_ = source;
  const std::string corrupt =
      cat(source, ": not a valid safetensors file (corrupted or truncated): ");
  if (bytes.size() < 8)
    fail(corrupt, "it is ", bytes.size(), " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > kMaxHeaderBytes) fail(corrupt, "header length ", n, " exceeds the 100 MiB limit");
  if (n > bytes.size() - 8)
    fail(corrupt, "header length ", n, " runs past the end of the file (", bytes.size(), " bytes)");
  f.data_start_ = 8 + n;
  const uint64_t data_size = bytes.size() - f.data_start_;

  nlohmann::json header;
  try {
    header = parse_json(std::string_view(bytes).substr(8, n));
  } catch (const JsonError& e) {
    fail(corrupt, "header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) fail(corrupt, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(corrupt, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(corrupt, "__metadata__.", m.key(), " must be a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = cat(corrupt, "tensor \"", name, "\"");
    if (!v.is_object()) fail(where, " must be an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) fail(where, " has no string \"dtype\"");
    if (!v.contains("shape") || !v["shape"].is_array()) fail(where, " has no \"shape\" array");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      fail(where, " needs \"data_offsets\": [begin, end]");
    TensorInfo t;
    t.name = name;
    t.dtype = parse_dtype(v["dtype"].get<std::string>(), where);
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      uint64_t dim = as_u64(d, where + " shape entry");
      if (dim > 0 && numel > std::numeric_limits<uint64_t>::max() / dim / 8)
        fail(where, " shape ", v["shape"].dump(), " is too large");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t begin = as_u64(v["data_offsets"][0], where + " data_offsets[0]");
    uint64_t end = as_u64(v["data_offsets"][1], where + " data_offsets[1]");
    if (begin > end) fail(where, " data_offsets [", begin, ", ", end, "] are reversed");
    if (end > data_size)
      fail(where, " data_offsets end ", end, " runs past the data buffer (", data_size, " bytes)");
    uint64_t expected = numel * dtype_size(t.dtype);
    if (end - begin != expected)
      fail(where, " has ", end - begin, " bytes but dtype ", dtype_name(t.dtype), " and shape ",
           v["shape"].dump(), " need ", expected);
    t.begin = begin;
    t.end = end;
    f.tensors_.push_back(std::move(t));
  }

  // The buffer must be tiled exactly: no overlaps, no holes, nothing unindexed.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const TensorInfo* t : by_offset) {
    if (t->begin != pos)
      fail(corrupt, "tensor \"", t->name, "\" starts at byte ", t->begin,
           " but the previous one ends at ", pos, " (data offsets overlap or leave a hole)");
    pos = t->end;
  }
  if (pos != data_size)
    fail(corrupt, "tensors cover ", pos, " bytes of a ", data_size, "-byte data buffer");

  std::sort(f.tensors_.begin(), f.tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  f.bytes_ = std::move(bytes);
  return f;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const std::byte* SafetensorsFile::data(const TensorInfo& t) const {
  return reinterpret_cast<const std::byte*>(bytes_.data() + data_start_ + t.begin);
}

std::string serialize_safetensors(std::vector<TensorBytes> tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorBytes& a, const TensorBytes& b) { return a.name < b.name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (i > 0 && tensors[i - 1].name == t.name) fail("safetensors: duplicate tensor name ", t.name);
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    if (static_cast<size_t>(numel) * dtype_size(t.dtype) != t.nbytes)
      fail("safetensors: tensor ", t.name, " has ", t.nbytes, " bytes, its shape and dtype need ",
           numel * dtype_size(t.dtype));
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  for (const auto& t : tensors) out.append(static_cast<const char*>(t.data), t.nbytes);
  return out;
}

void save_safetensors(const std::string& path, std::vector<TensorBytes> tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(std::move(tensors), metadata));
}

}  // namespace tinybert::io
