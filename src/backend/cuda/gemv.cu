// GEMV dispatch by weight type, the row-size helpers, and the element-at-a-time fallback for shapes
// the vectorized kernels do not take.
#include <string>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

int64_t block_elems(DType t) {
  switch (t) {
    case DType::Q8_0:
    case DType::Q4_0:
      return 32;
    case DType::Q4_K:
    case DType::Q6_K:
    case DType::Q8_K:
      return 256;
    default:
      return 1;
  }
}

size_t row_bytes(DType t, int64_t cols) {
  const size_t blocks = static_cast<size_t>(cols / block_elems(t));
  switch (t) {
    case DType::F32:
      return blocks * 4;
    case DType::F16:
    case DType::BF16:
      return blocks * 2;
    case DType::Q8_0:
      return blocks * kQ8_0Bytes;
    case DType::Q4_0:
      return blocks * kQ4_0Bytes;
    case DType::Q4_K:
      return blocks * kQ4_KBytes;
    case DType::Q6_K:
      return blocks * kQ6_KBytes;
    default:
      throw Error("cuda",
                  "internal: no row size for type " + std::to_string(static_cast<uint32_t>(t)));
  }
}

namespace {

__global__ void gemv_generic_kernel(DType t, const uint8_t* __restrict__ w, size_t rb, int64_t rows,
                                    int64_t cols, const float* __restrict__ x, int n,
                                    float* __restrict__ y) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (r >= rows) return;
  const uint8_t* row = w + static_cast<size_t>(r) * rb;
  for (int tok = 0; tok < n; ++tok) {
    float acc = 0.0f;
    for (int64_t c = lane; c < cols; c += 32) acc += load_elem(t, row, c) * x[tok * cols + c];
    acc = warp_sum(acc);
    if (lane == 0) y[tok * rows + r] = acc;
  }
}

}  // namespace

void gemv_generic(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n,
                  float* y, cudaStream_t s) {
  const int warps = 8;
  gemv_generic_kernel<<<static_cast<unsigned>((rows + warps - 1) / warps), warps * 32, 0, s>>>(
      t, static_cast<const uint8_t*>(w), row_bytes(t, cols), rows, cols, x, n, y);
  HEARTH_CUDA_LAUNCHED();
}

void gemv(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
          cudaStream_t s) {
  if (n < 1 || n > kGemvMaxTokens)
    throw Error("cuda gemv", "internal: token count " + std::to_string(n) + " out of range");
  // The vectorized kernels read x as float4 and plain-float rows as 16-byte words.
  const bool x_aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const bool w_aligned = reinterpret_cast<uintptr_t>(w) % 16 == 0;
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      if (cols % 8 == 0 && x_aligned && w_aligned) return gemv_float(t, w, rows, cols, x, n, y, s);
      break;
    case DType::Q8_0:
      if (x_aligned) return gemv_q8_0(w, rows, cols, x, n, y, s);
      break;
    case DType::Q4_0:
      if (x_aligned) return gemv_q4_0(w, rows, cols, x, n, y, s);
      break;
    case DType::Q4_K:
    case DType::Q6_K:
      if (x_aligned) return gemv_kquant(t, w, rows, cols, x, n, y, s);
      break;
    default:
      throw Error("cuda gemv", "unsupported weight type");
  }
  gemv_generic(t, w, rows, cols, x, n, y, s);
}

}  // namespace hearth::cuda
