// Decode GEMV for Q8_0 weights, decoded from their GGUF blocks in registers.
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

void gemv_q8_0(const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
               cudaStream_t s) {
  launch_gemv<GroupQ8_0>(w, row_bytes(DType::Q8_0, cols), rows, cols, x, n, y, s);
}

}  // namespace hearth::cuda
