// GEMV dispatch by weight type, the row-size helpers, and the element-at-a-time fallback for shapes
// the vectorized kernels do not take.
#include <string>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

int64_t block_elems(DType t) {
  return block_elems_of(t);
}

size_t row_bytes(DType t, int64_t cols) {
  const size_t b = gpu_row_stride(t, cols);
  if (b == 0 && cols > 0)
    throw Error("cuda", std::string("internal: no row layout for type ") + dtype_name(t));
  return b;
}

namespace {

__global__ void gemv_generic_kernel(DType t, const uint8_t* __restrict__ w, size_t stride,
                                    int64_t rows, int64_t cols, const float* __restrict__ x, int n,
                                    float* __restrict__ y) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (r >= rows) return;
  const uint8_t* row = w + static_cast<size_t>(r) * stride;
  for (int tok = 0; tok < n; ++tok) {
    float acc = 0.0f;
    for (int64_t c = lane; c < cols; c += 32) acc += load_elem(t, row, cols, c) * x[tok * cols + c];
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

void gemv(DType t, const GemvOut* outs, int count, int64_t cols, const float* x, int n,
          void* act_buf, cudaStream_t s) {
  if (n < 1 || n > kGemvMaxTokens)
    throw Error("cuda gemv", "internal: token count " + std::to_string(n) + " out of range");
  if (count < 1 || count > kGemvMaxMats)
    throw Error("cuda gemv", "internal: " + std::to_string(count) + " matrices in one launch");
  // The unit kernels read x as float4 and weights as 16-byte words: rows of whole units, 16-byte
  // aligned. Device rows of the quantized types always are; float rows need cols % 8 == 0, and
  // the activation quantizers whole super-blocks.
  const bool floats = t == DType::F32 || t == DType::F16 || t == DType::BF16;
  bool vector_ok = reinterpret_cast<uintptr_t>(x) % 16 == 0 && cols % (floats ? 8 : 256) == 0;
  for (int m = 0; m < count; ++m)
    vector_ok = vector_ok && reinterpret_cast<uintptr_t>(outs[m].w) % 16 == 0;
  if (!vector_ok) {
    for (int m = 0; m < count; ++m)
      gemv_generic(t, outs[m].w, outs[m].rows, cols, x, n, outs[m].y, s);
    return;
  }
  GemvLaunch a{};
  a.count = count;
  for (int m = 0; m < count; ++m) {
    a.w[m] = static_cast<const uint8_t*>(outs[m].w);
    a.rows[m] = outs[m].rows;
  }
  a.stride = row_bytes(t, cols);
  a.cols = cols;
  a.units = cols / (floats ? 8 : 32);
  const ActQuant kind = act_quant_for(t);
  QAct q{};
  if (!floats) q = quantize_act(kind, x, n, cols, act_buf, s);
  a.x = x;
  for (int m = 0; m < count; ++m) a.y[m] = outs[m].y;
  if (!floats) a.q = q;
  switch (t) {
    case DType::Q4_0:
    case DType::Q4_K:
      return gemv_q4(t, a, n, s);
    case DType::Q8_0:
    case DType::Q6_K:
      return gemv_q68(t, a, n, s);
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      return gemv_floats(t, a, n, s);
    default:
      throw Error("cuda gemv", std::string("unsupported weight type ") + dtype_name(t));
  }
}

}  // namespace hearth::cuda
