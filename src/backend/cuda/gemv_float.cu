// Decode GEMV for F32, F16 and BF16 weights: 16-byte loads of 8 elements per lane.
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

void gemv_float(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
                cudaStream_t s) {
  const size_t rb = row_bytes(t, cols);
  switch (t) {
    case DType::F32:
      return launch_gemv<GroupF32>(w, rb, rows, cols, x, n, y, s);
    case DType::F16:
      return launch_gemv<GroupF16>(w, rb, rows, cols, x, n, y, s);
    case DType::BF16:
      return launch_gemv<GroupBF16>(w, rb, rows, cols, x, n, y, s);
    default:
      throw Error("cuda gemv_float", "internal: not a float type");
  }
}

}  // namespace hearth::cuda
