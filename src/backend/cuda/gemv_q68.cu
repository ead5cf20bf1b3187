// Decode GEMV for the 8- and 6-bit types.
#include "backend/cuda/gemv.cuh"

namespace hearth::cuda {

void gemv_q68(DType t, const GemvLaunch& a, int n, cudaStream_t s) {
  if (t == DType::Q8_0) return launch_gemv<UnitQ8_0>(a, n, s);
  if (t == DType::Q6_K) return launch_gemv<UnitQ6_K>(a, n, s);
  throw Error("cuda gemv_q68", "internal: not Q8_0 or Q6_K");
}

}  // namespace hearth::cuda
