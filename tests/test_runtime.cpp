// Runtime checks: a fast BLAS that shares LibTorch's threads is loaded, devices and dtypes parse
// with clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tinybert/core/error.h"
#include "tinybert/runtime/runtime.h"

using namespace tinybert;

TEST(Runtime, BlasIsFastAndSharesLibTorchsThreads) {
  torch::mm(torch::ones({8, 8}), torch::ones({8, 8}));  // make sure BLAS is loaded
  const std::string blas = runtime::blas_library(), config = runtime::openblas_config();
  std::printf("  BLAS: %s (%s)\n", blas.c_str(), config.c_str());
  EXPECT_EQ(runtime::blas_warning(blas, config), "") << "run scripts/setup.sh --deps-only";
  const std::string lib = "/usr/lib/x86_64-linux-gnu/";
  EXPECT_NE(runtime::blas_warning(lib + "blas/libblas.so.3.11.0", ""), "");
  EXPECT_NE(runtime::blas_warning(lib + "openblas-pthread/libblas.so.3",
                                  "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell"),
            "");
  EXPECT_EQ(runtime::blas_warning(lib + "openblas-openmp/libblas.so.3",
                                  "OpenBLAS 0.3.21 DYNAMIC_ARCH USE_OPENMP Haswell MAX_THREADS=64"),
            "");
}

TEST(Runtime, AutocastScopes) {
  auto a = torch::ones({4, 4});
  {
    runtime::Autocast student(torch::kCPU, torch::kBFloat16);
    EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kBFloat16);
    {
      runtime::Autocast teacher(torch::kCPU, torch::kFloat);  // off inside
      EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat);
    }
    EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat);
}

TEST(Runtime, DevicesAndDtypes) {
  EXPECT_TRUE(runtime::parse_device("cpu").is_cpu());
  EXPECT_THROW(runtime::parse_device("tpu"), Error);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(runtime::parse_device("cuda"), Error);
  }
  EXPECT_EQ(runtime::parse_dtype("bf16", torch::kCPU), torch::kBFloat16);
  EXPECT_THROW(runtime::parse_dtype("fp16", torch::kCPU), Error);
  EXPECT_THROW(runtime::parse_dtype("int4", torch::kCPU), Error);
}
