// What the oneDNN kernels share: the CPU engine, a stream per thread, per-thread scratch memory.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace tinybert::model::dnnl_runtime {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine();
dnnl::stream& thread_stream();
// This thread's scratch buffer, grown to at least `bytes` (a pointer taken before a later call
// that grows it is no longer valid).
void* scratch_bytes(size_t bytes);
// The buffer as a primitive's scratchpad (user scratchpad mode: one primitive object may run on
// several threads at once, each with its own scratchpad).
dnnl::memory scratch_for(const dnnl::memory::desc& desc);

}  // namespace tinybert::model::dnnl_runtime
