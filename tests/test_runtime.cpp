// Runtime checks: a fast BLAS is loaded, devices and dtypes parse with clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tinybert/core/error.h"
#include "tinybert/runtime/runtime.h"

using namespace tinybert;

TEST(Runtime, BlasIsNotTheReferenceImplementation) {
  torch::mm(torch::ones({8, 8}), torch::ones({8, 8}));  // make sure BLAS is loaded
  std::string blas = runtime::blas_library();
  std::printf("  BLAS: %s\n", blas.c_str());
  EXPECT_FALSE(runtime::is_reference_blas(blas))
      << "the reference BLAS is ~40x slower; apt-get install libopenblas0-pthread";
  EXPECT_TRUE(runtime::is_reference_blas("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"));
  EXPECT_FALSE(
      runtime::is_reference_blas("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"));
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
