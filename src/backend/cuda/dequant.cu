// Quantized weights to f16 for the cuBLAS prefill path: one thread per 32-element group, using the
// group decoders of blocks.cuh. The f16 copy lives in a reused scratch buffer only for the duration
// of one matmul; the weights themselves stay in their device layout.
#include <cuda_fp16.h>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

template <class G>
__global__ void dequant_kernel(const uint8_t* __restrict__ w, size_t stride, int64_t nb,
                               int64_t rows, int64_t cols, __half* __restrict__ out) {
  const int64_t groups = cols / 32;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * groups) return;
  const int64_t r = idx / groups, g = idx % groups;
  float v[32];
  G::decode(w + static_cast<size_t>(r) * stride, nb, g, v);
  // Four 16-byte stores: a warp's stores then cover whole sectors.
  uint4* o = reinterpret_cast<uint4*>(out + r * cols + g * 32);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    __half2 h[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[8 * k + 2 * i], v[8 * k + 2 * i + 1]);
    o[k] = *reinterpret_cast<const uint4*>(h);
  }
}

template <class G>
void launch(DType t, const void* w, int64_t rows, int64_t cols, void* out, cudaStream_t s) {
  const int64_t total = rows * (cols / 32);
  const int threads = 256;
  dequant_kernel<G><<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0, s>>>(
      static_cast<const uint8_t*>(w), row_bytes(t, cols), cols / block_elems(t), rows, cols,
      static_cast<__half*>(out));
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace

void dequantize_f16(DType t, const void* w, int64_t rows, int64_t cols, void* out_f16,
                    cudaStream_t s) {
  switch (t) {
    case DType::Q8_0:
      return launch<GroupQ8_0>(t, w, rows, cols, out_f16, s);
    case DType::Q4_0:
      return launch<GroupQ4_0>(t, w, rows, cols, out_f16, s);
    case DType::Q4_K:
      return launch<GroupQ4_K>(t, w, rows, cols, out_f16, s);
    case DType::Q6_K:
      return launch<GroupQ6_K>(t, w, rows, cols, out_f16, s);
    default:
      throw Error("cuda dequantize_f16", "internal: not a quantized weight type");
  }
}

}  // namespace hearth::cuda
