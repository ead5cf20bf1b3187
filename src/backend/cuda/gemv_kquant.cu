// Decode GEMV for the K-quants (Q4_K, Q6_K): a lane takes one 32-element sub-block at a time.
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

void gemv_kquant(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n,
                 float* y, cudaStream_t s) {
  const size_t rb = row_bytes(t, cols);
  if (t == DType::Q4_K) return launch_gemv<GroupQ4_K>(w, rb, rows, cols, x, n, y, s);
  if (t == DType::Q6_K) return launch_gemv<GroupQ6_K>(w, rb, rows, cols, x, n, y, s);
  throw Error("cuda gemv_kquant", "internal: not a K-quant type");
}

}  // namespace hearth::cuda
