// Quantized weights to f16 for the cuBLAS prefill path: one thread per 32-element group, using the
// same group decoders as the GEMV kernels. The f16 copy lives in a reused scratch buffer only for
// the duration of one matmul; the weights themselves stay in their GGUF blocks.
#include <cuda_fp16.h>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

template <class G>
__global__ void dequant_kernel(const uint8_t* __restrict__ w, size_t rb, int64_t rows, int64_t cols,
                               __half* __restrict__ out) {
  const int64_t groups = cols / G::kGroup;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * groups) return;
  const int64_t r = idx / groups, g = idx % groups;
  float v[G::kGroup];
  G::decode(w + static_cast<size_t>(r) * rb, g, v);
  __half* o = out + r * cols + g * G::kGroup;
#pragma unroll
  for (int k = 0; k < G::kGroup; ++k) o[k] = __float2half_rn(v[k]);
}

template <class G>
void launch(const void* w, int64_t rows, int64_t cols, size_t rb, void* out, cudaStream_t s) {
  const int64_t total = rows * (cols / G::kGroup);
  const int threads = 256;
  dequant_kernel<G><<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0, s>>>(
      static_cast<const uint8_t*>(w), rb, rows, cols, static_cast<__half*>(out));
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace

void dequantize_f16(DType t, const void* w, int64_t rows, int64_t cols, void* out_f16,
                    cudaStream_t s) {
  const size_t rb = row_bytes(t, cols);
  switch (t) {
    case DType::Q8_0:
      return launch<GroupQ8_0>(w, rows, cols, rb, out_f16, s);
    case DType::Q4_0:
      return launch<GroupQ4_0>(w, rows, cols, rb, out_f16, s);
    case DType::Q4_K:
      return launch<GroupQ4_K>(w, rows, cols, rb, out_f16, s);
    case DType::Q6_K:
      return launch<GroupQ6_K>(w, rows, cols, rb, out_f16, s);
    default:
      throw Error("cuda dequantize_f16", "internal: not a quantized weight type");
  }
}

}  // namespace hearth::cuda
