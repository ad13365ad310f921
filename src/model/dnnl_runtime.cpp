// What the oneDNN kernels share: the CPU engine, a stream per thread, per-thread scratch memory.
#include "dnnl_runtime.h"

#include <torch/torch.h>

#include <algorithm>

namespace tinybert::model::dnnl_runtime {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

void* scratch_bytes(size_t bytes) {
  thread_local torch::Tensor buffer;  // bytes, 64-byte aligned by LibTorch's CPU allocator
  const auto n = static_cast<int64_t>(std::max<size_t>(bytes, 1));
  if (!buffer.defined() || buffer.numel() < n) buffer = torch::empty({n}, torch::kByte);
  return buffer.data_ptr();
}

dnnl::memory scratch_for(const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, cpu_engine(), scratch_bytes(desc.get_size()));
}

}  // namespace tinybert::model::dnnl_runtime
