// Device, thread and BLAS discovery for the start-up report.
#include "tinybert/runtime/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "tinybert/core/error.h"
#include "tinybert/runtime/distributed.h"

namespace tinybert::runtime {

c10::Device parse_device(const std::string& name) {
  c10::Device device = c10::kCPU;
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    fail("unknown device \"", name, "\" (use cpu, cuda or cuda:N)");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      fail("device ", name,
           " requested but CUDA is not available in this build or machine (use --device cpu)");
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
      fail("device ", name, " requested but only ", torch::cuda::device_count(),
           " GPU(s) are visible");
  } else if (!device.is_cpu()) {
    fail("device ", name, " is not supported (use cpu or cuda)");
  } else if (device.has_index() && device.index() != 0) {
    fail("device ", name, ": there is one CPU device (use cpu; --threads sets its threads)");
  }
  return device;
}

c10::ScalarType parse_dtype(const std::string& name, c10::Device device) {
  if (name == "fp32" || name == "float32") return c10::kFloat;
  if (name == "bf16" || name == "bfloat16") return c10::kBFloat16;
  if (name == "fp16" || name == "float16") {
    if (device.is_cpu()) fail("dtype fp16 is not supported on the CPU (use bf16 or fp32)");
    return c10::kHalf;
  }
  fail("unknown dtype \"", name, "\" (use fp32, bf16 or fp16)");
}

namespace {

// The autocast API was renamed in LibTorch 2.4 (per device type); 1.13 has one call per device.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType t) {
  return at::autocast::is_autocast_enabled(t);
}
void set_autocast_enabled(c10::DeviceType t, bool on) {
  at::autocast::set_autocast_enabled(t, on);
}
c10::ScalarType autocast_dtype(c10::DeviceType t) {
  return at::autocast::get_autocast_dtype(t);
}
void set_autocast_dtype(c10::DeviceType t, c10::ScalarType d) {
  at::autocast::set_autocast_dtype(t, d);
}
#else
bool autocast_enabled(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(c10::DeviceType t, bool on) {
  t == c10::kCUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
c10::ScalarType autocast_dtype(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                         : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(c10::DeviceType t, c10::ScalarType d) {
  t == c10::kCUDA ? at::autocast::set_autocast_gpu_dtype(d)
                  : at::autocast::set_autocast_cpu_dtype(d);
}
#endif

}  // namespace

Autocast::Autocast(c10::Device device, c10::ScalarType dtype)
    : type_(device.type()),
      was_enabled_(autocast_enabled(type_)),
      was_dtype_(autocast_dtype(type_)) {
  set_autocast_enabled(type_, dtype != c10::kFloat);
  if (dtype != c10::kFloat) set_autocast_dtype(type_, dtype);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  // As torch.autocast's exit: the cast weights cached for the region are dropped at the outermost.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(type_, was_enabled_);
  set_autocast_dtype(type_, was_dtype_);
}

void set_threads(int threads) {
  if (threads < 0) fail("--threads must be >= 0, found ", threads);
  // 0: the cores shared between the workers a launcher started on this machine.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int n = threads > 0 ? threads : std::max(1, cores / launch_env().local_world_size);
  at::set_num_threads(n);
}

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // One arena for every thread: a thread's own arena lives in 64 MiB heaps that glibc shrinks
  // and maps again, so a model run off the main thread (the server's batcher) page-faults its
  // activations in on every batch (measured: 25 vs 40 requests/s under load).
  mallopt(M_ARENA_MAX, 1);
}

std::string blas_library() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        std::string name = info->dlpi_name ? info->dlpi_name : "";
        auto base = std::filesystem::path(name).filename().string();
        if (base.rfind("libblas", 0) == 0 || base.rfind("libopenblas", 0) == 0 ||
            base.rfind("libmkl_rt", 0) == 0) {
          std::error_code ec;
          auto real = std::filesystem::canonical(name, ec);
          *static_cast<std::string*>(data) = ec ? name : real.string();
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

std::string openblas_config() {
  using Fn = const char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  return fn ? fn() : "";
}

bool openblas_avx512() {
  using Fn = const char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!fn || !fn()) return false;
  std::string core = fn();
  std::transform(core.begin(), core.end(), core.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const char* k : {"skylakex", "cooperlake", "sapphirerapids"})
    if (core.find(k) != std::string::npos) return true;
  return false;
}

std::string blas_warning(const std::string& path, const std::string& openblas_config) {
  if (path.find("/blas/libblas") != std::string::npos)
    return "the reference BLAS is loaded; matrix products run about 40x slower. Fix: "
           "scripts/setup.sh --deps-only (installs and selects OpenBLAS)";
  if (!openblas_config.empty() && openblas_config.find("USE_OPENMP") == std::string::npos)
    return "OpenBLAS is the pthreads build; its threads contend with LibTorch's OpenMP threads "
           "(fp32 measured 1.6x slower). Fix: scripts/setup.sh --deps-only (selects "
           "libopenblas0-openmp)";
  return "";
}

void report(std::ostream& out, c10::Device device) {
  const std::string blas = blas_library(), config = openblas_config();
  out << "tinybert: LibTorch " << TORCH_VERSION << ", device " << device.str() << ", "
      << at::get_num_threads() << " threads, BLAS " << (blas.empty() ? "(none loaded)" : blas);
  if (!config.empty()) out << " (" << config << ")";
  out << "\n";
  if (auto w = blas_warning(blas, config); !w.empty()) out << "warning: " << w << "\n";
}

}  // namespace tinybert::runtime
