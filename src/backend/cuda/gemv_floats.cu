// Decode GEMV for the float weight types.
#include "backend/cuda/gemv.cuh"

namespace hearth::cuda {

void gemv_floats(DType t, const GemvLaunch& a, int n, cudaStream_t s) {
  if (t == DType::BF16) return launch_gemv<UnitBF16>(a, n, s);
  if (t == DType::F16) return launch_gemv<UnitF16>(a, n, s);
  if (t == DType::F32) return launch_gemv<UnitF32>(a, n, s);
  throw Error("cuda gemv_floats", "internal: not a float type");
}

}  // namespace hearth::cuda
