#pragma once
// Activations quantized to int8 for the quantized GEMV, exactly as the CPU backend quantizes them
// (cpu::quantize_activation): Q8_0 blocks of 32 for Q4_0 and Q8_0 weights, Q8_K blocks of 256
// for the K-quants. The same int8 values on both sides mean the GPU's quantized products equal the
// CPU's up to the order of float additions, so whole-model logits can be compared tightly even on
// random-weight models, where any difference in rounding grows from layer to layer.
//
// The serial per-block functions here are the definition (the tests check them bit for bit
// against the CPU's quantizer); the kernels in act_quant.cu compute the same with a warp per 256
// elements.
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/blocks.cuh"

namespace hearth::cuda {

enum class ActQuant { kQ8_0, kQ8_K };

// Quantized activations of n token rows of `cols` elements, device memory, struct of arrays:
//   qs   int8  [n][cols]
//   d    float [n][cols / 32] (Q8_0: the f16-rounded scale) or [n][cols / 256] (Q8_K)
//   s    int32 [n][cols / 32] (Q8_0: sum of the block's values) or [n][cols / 16] (Q8_K: bsums)
struct QAct {
  const int8_t* qs = nullptr;
  const float* d = nullptr;
  const int32_t* s = nullptr;
  int64_t cols = 0;
};

// The same quantized activations from token row t0 on.
__host__ __device__ inline QAct act_rows_from(const QAct& q, ActQuant kind, int t0) {
  QAct r = q;
  r.qs += t0 * q.cols;
  r.d += t0 * (q.cols / (kind == ActQuant::kQ8_0 ? 32 : 256));
  r.s += t0 * (q.cols / (kind == ActQuant::kQ8_0 ? 32 : 16));
  return r;
}

// Products without fused multiply-add contraction: the CPU rounds each product separately.
__host__ __device__ __forceinline__ float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
__host__ __device__ __forceinline__ float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

__host__ __device__ __forceinline__ int clamp_i8(int v) {
  return v < -128 ? -128 : v > 127 ? 127 : v;
}

// ggml's nearest_int: round half to even through the float mantissa.
__host__ __device__ __forceinline__ int nearest_int_rn(float v) {
  const uint32_t bits = float_bits(add_rn(v, 12582912.0f));
  return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

// One Q8_0 block as quant::quantize_q8_0_ref: d = amax / 127 (stored as f16), values rounded half
// away from zero with the unrounded 1 / d.
__host__ __device__ inline void q8_0_block(const float* x, int8_t* q, float* d_out,
                                           int32_t* s_out) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    const int v = clamp_i8(static_cast<int>(roundf(mul_rn(x[j], id))));
    q[j] = static_cast<int8_t>(v);
    sum += v;
  }
  *d_out = __half2float(__float2half_rn(d));
  *s_out = sum;
}

// One Q8_K block as quant::quantize_q8_k_ref: the first value of largest magnitude maps to -127.
__host__ __device__ inline void q8_k_block(const float* x, int8_t* q, float* d_out,
                                           int32_t* bsums) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 256; ++j)
    if (fabsf(x[j]) > amax) {
      amax = fabsf(x[j]);
      max = x[j];
    }
  if (amax == 0.0f) {
    for (int j = 0; j < 256; ++j) q[j] = 0;
    for (int g = 0; g < 16; ++g) bsums[g] = 0;
    *d_out = 0.0f;
    return;
  }
  const float iscale = -127.0f / max;
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int j = 16 * g; j < 16 * g + 16; ++j) {
      const int v = clamp_i8(nearest_int_rn(mul_rn(iscale, x[j])));
      q[j] = static_cast<int8_t>(v);
      sum += v;
    }
    bsums[g] = sum;
  }
  *d_out = 1.0f / iscale;
}

// The quantization the weights of type t multiply with.
__host__ __device__ constexpr ActQuant act_quant_for(DType t) {
  return t == DType::Q4_K || t == DType::Q6_K ? ActQuant::kQ8_K : ActQuant::kQ8_0;
}

}  // namespace hearth::cuda
