#pragma once
// Every CUDA runtime and cuBLAS call goes through these: a failure becomes one hearth::Error line
// naming the call, where it was made and what the runtime said.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "util/error.h"

namespace hearth::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* call, const char* file, int line) {
  throw Error(std::string(file) + ":" + std::to_string(line),
              std::string(call) + " failed: " + cudaGetErrorString(e));
}

[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* call, const char* file,
                                      int line) {
  throw Error(std::string(file) + ":" + std::to_string(line),
              std::string(call) + " failed: " + cublasGetStatusString(s));
}

}  // namespace hearth::cuda

#define HEARTH_CUDA_CHECK(call)                                                \
  do {                                                                         \
    cudaError_t hearth_cuda_err_ = (call);                                     \
    if (hearth_cuda_err_ != cudaSuccess)                                       \
      ::hearth::cuda::throw_cuda(hearth_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define HEARTH_CUBLAS_CHECK(call)                                                 \
  do {                                                                            \
    cublasStatus_t hearth_cublas_st_ = (call);                                    \
    if (hearth_cublas_st_ != CUBLAS_STATUS_SUCCESS)                               \
      ::hearth::cuda::throw_cublas(hearth_cublas_st_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define HEARTH_CUDA_LAUNCHED() HEARTH_CUDA_CHECK(cudaGetLastError())
