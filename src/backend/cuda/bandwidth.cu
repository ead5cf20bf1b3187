// The device's memory bandwidth as bench measures it: best of a few device-to-device copies of a
// buffer far larger than L2, counting the bytes read plus the bytes written.
#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

double copy_bandwidth_gbs(size_t bytes) {
  void* a = nullptr;
  void* b = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  double best = 0;
  try {
    HEARTH_CUDA_CHECK(cudaMalloc(&a, bytes));
    HEARTH_CUDA_CHECK(cudaMalloc(&b, bytes));
    HEARTH_CUDA_CHECK(cudaMemset(a, 1, bytes));
    HEARTH_CUDA_CHECK(cudaEventCreate(&start));
    HEARTH_CUDA_CHECK(cudaEventCreate(&stop));
    HEARTH_CUDA_CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));  // warm-up
    for (int pass = 0; pass < 5; ++pass) {
      HEARTH_CUDA_CHECK(cudaEventRecord(start));
      HEARTH_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
      HEARTH_CUDA_CHECK(cudaEventRecord(stop));
      HEARTH_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      HEARTH_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (ms > 0) best = std::max(best, 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9);
    }
  } catch (...) {
    cudaFree(a);
    cudaFree(b);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    throw;
  }
  cudaFree(a);
  cudaFree(b);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

}  // namespace hearth::cuda
