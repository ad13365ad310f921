// The runtime a command runs on: device, threads, BLAS; and the start-up report of them.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <ostream>
#include <string>

namespace tinybert::runtime {

// "cpu", "cuda" or "cuda:N"; fails clearly when CUDA is asked for but absent.
c10::Device parse_device(const std::string& name);
// "fp32" | "bf16" | "fp16"; fails for a dtype the device cannot run.
c10::ScalarType parse_dtype(const std::string& name, c10::Device device);
// Mixed precision while alive, as torch.autocast: on `device`, matrix products run in `dtype`
// (bf16, or fp16 on a GPU) while weights and reductions stay fp32; kFloat turns autocast off
// in the scope (a frozen teacher inside a student's autocast region). Restores the previous
// state when it ends.
class Autocast {
 public:
  Autocast(c10::Device device, c10::ScalarType dtype);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  c10::DeviceType type_;
  bool was_enabled_;
  c10::ScalarType was_dtype_;
};

// Sets LibTorch's intra-op threads; 0 means one per core, shared out between the workers a
// launcher started on this machine (LOCAL_WORLD_SIZE).
void set_threads(int threads);

// Keeps freed large tensors in the heap for reuse (glibc otherwise returns each >32 MiB block to
// the OS and page-faults it back in on the next allocation), in one arena shared by all threads;
// call once at start-up, before starting threads.
void tune_allocator();

// The BLAS library this process loaded (resolved path), or "" if none is visible.
std::string blas_library();
// OpenBLAS's build and kernel line ("OpenBLAS 0.3.21 ... USE_OPENMP Haswell ..."), or "" when
// the loaded BLAS is not OpenBLAS.
std::string openblas_config();
// Whether the loaded OpenBLAS runs AVX-512 kernels (its core: SkylakeX, Cooperlake,
// SapphireRapids; OPENBLAS_CORETYPE=Haswell limits it to AVX2).
bool openblas_avx512();
// Why the BLAS at `path` (with `openblas_config`) makes LibTorch slow, or "" when it does not:
// the reference BLAS (matmul about 40x slower), or an OpenBLAS built on pthreads, whose own
// spinning thread pool contends with LibTorch's OpenMP threads for the cores (fp32 inference
// measured 1.6x slower on 2 cores).
std::string blas_warning(const std::string& path, const std::string& openblas_config);

// One line: LibTorch version, device, threads, BLAS; plus a warning line for a slow BLAS.
void report(std::ostream& out, c10::Device device);

}  // namespace tinybert::runtime
