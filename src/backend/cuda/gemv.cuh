#pragma once
// The decode matrix-vector kernel shared by every weight type (the per-type arithmetic is in
// gemv_units.cuh). A block of 128 threads computes R consecutive output rows for NT tokens: its
// threads take the row's units round-robin, so a warp's loads are contiguous, and the block sums
// the threads' partial results at the end. R rows per block share each unit's activations (loaded
// and, for quantized weights, quantized once); small R keeps the grid large, so even the 1024-row
// K/V matrices give every multiprocessor several blocks. Up to three matrices of one type that
// read the same input (Q/K/V, gate/up) go in one launch, their blocks one after the other.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemv_units.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {

constexpr int kGemvThreads = 128;

struct GemvLaunch {
  const uint8_t* w[kGemvMaxMats];
  float* y[kGemvMaxMats];
  int64_t rows[kGemvMaxMats];
  int64_t first_block[kGemvMaxMats];  // of each matrix, in the grid
  int count;
  size_t stride;  // bytes between weight rows
  int64_t cols, units;
  const float* x;  // float weights: the activations as they are
  QAct q;          // quantized weights: the activations quantized as the CPU does
};

template <int NT>
__host__ __device__ constexpr int gemv_rows_per_block() {
  return NT <= 4 ? 4 : 2;  // registers: NT tokens' activations plus R x NT sums per thread
}

template <class U, int NT>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(const __grid_constant__ GemvLaunch a) {
  constexpr int R = gemv_rows_per_block<NT>();
  constexpr int kWarps = kGemvThreads / 32;
  const int64_t blk = blockIdx.x;
  // Which matrix this block serves (constant indices only: an indexed parameter array would be
  // copied to local memory).
  const uint8_t* w = a.w[0];
  float* y = a.y[0];
  int64_t rows = a.rows[0], first = 0;
  if (a.count > 1 && blk >= a.first_block[1])
    w = a.w[1], y = a.y[1], rows = a.rows[1], first = a.first_block[1];
  if (a.count > 2 && blk >= a.first_block[2])
    w = a.w[2], y = a.y[2], rows = a.rows[2], first = a.first_block[2];
  const int64_t r0 = (blk - first) * R;
  const int nr = static_cast<int>(rows - r0 < R ? rows - r0 : R);

  float acc[R][NT];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;

  const GemvIn in{a.x, a.q, a.cols};
  for (int64_t u = threadIdx.x; u < a.units; u += kGemvThreads) {
    typename U::X xs[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) U::prep(in, t, u, xs[t]);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < nr) {
        typename U::W wv;
        U::load(w + static_cast<size_t>(r0 + r) * a.stride, a.units, u, wv);
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[r][t] += U::dot(wv, xs[t]);
      }
    }
  }

  __shared__ float part[kWarps][R * NT];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float v = warp_sum(acc[r][t]);
      if (lane == 0) part[warp][r * NT + t] = v;
    }
  __syncthreads();
  for (int i = static_cast<int>(threadIdx.x); i < R * NT; i += kGemvThreads) {
    const int r = i / NT, t = i % NT;
    if (r >= nr) continue;
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kWarps; ++k) s += part[k][i];  // fixed order: deterministic
    y[t * rows + r0 + r] = s;
  }
}

template <class U, int NT>
void launch_gemv_nt(GemvLaunch a, cudaStream_t s) {
  constexpr int R = gemv_rows_per_block<NT>();
  int64_t blocks = 0;
  for (int m = 0; m < a.count; ++m) {
    a.first_block[m] = blocks;
    blocks += (a.rows[m] + R - 1) / R;
  }
  gemv_kernel<U, NT><<<static_cast<unsigned>(blocks), kGemvThreads, 0, s>>>(a);
  HEARTH_CUDA_LAUNCHED();
}

// One launch for n tokens (1 <= n <= 8).
template <class U>
void launch_gemv(const GemvLaunch& a, int n, cudaStream_t s) {
  switch (n) {
    case 1:
      return launch_gemv_nt<U, 1>(a, s);
    case 2:
      return launch_gemv_nt<U, 2>(a, s);
    case 3:
      return launch_gemv_nt<U, 3>(a, s);
    case 4:
      return launch_gemv_nt<U, 4>(a, s);
    case 5:
      return launch_gemv_nt<U, 5>(a, s);
    case 6:
      return launch_gemv_nt<U, 6>(a, s);
    case 7:
      return launch_gemv_nt<U, 7>(a, s);
    case 8:
      return launch_gemv_nt<U, 8>(a, s);
    default:
      throw Error("cuda gemv", "internal: token count " + std::to_string(n) + " out of range");
  }
}

// Per-type entry points, one translation unit each (they compile in parallel).
void gemv_q4(DType t, const GemvLaunch& a, int n, cudaStream_t s);      // Q4_0, Q4_K
void gemv_q68(DType t, const GemvLaunch& a, int n, cudaStream_t s);     // Q8_0, Q6_K
void gemv_floats(DType t, const GemvLaunch& a, int n, cudaStream_t s);  // F32, F16, BF16

}  // namespace hearth::cuda
