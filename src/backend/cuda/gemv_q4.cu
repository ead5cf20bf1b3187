// Decode GEMV for the 4-bit types.
#include "backend/cuda/gemv.cuh"

namespace hearth::cuda {

void gemv_q4(DType t, const GemvLaunch& a, int n, cudaStream_t s) {
  if (t == DType::Q4_0) return launch_gemv<UnitQ4_0>(a, n, s);
  if (t == DType::Q4_K) return launch_gemv<UnitQ4_K>(a, n, s);
  throw Error("cuda gemv_q4", "internal: not a 4-bit type");
}

}  // namespace hearth::cuda
