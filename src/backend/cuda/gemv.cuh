#pragma once
// The decode-side matrix-vector kernel shared by every weight type. A warp owns R consecutive
// output rows; each lane takes groups of G::kGroup elements (strided by the warp), loads the
// matching activations of NT tokens once, and decodes each of its R rows' groups in registers
// against them; a warp shuffle sums the lanes. R > 1 spends the activation loads (from L1) on
// several rows: for 4-bit weights the activations are otherwise 7x the weight bytes.
#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"

namespace hearth::cuda {

constexpr int kGemvWarps = 8;  // warps per 256-thread block

template <class G, int NT, int R>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int64_t cols,
                const float* __restrict__ x, float* __restrict__ y) {
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t r0 = (static_cast<int64_t>(blockIdx.x) * kGemvWarps + warp) * R;
  if (r0 >= rows) return;  // the whole warp leaves together, so the shuffles below stay full
  const int64_t groups = cols / G::kGroup;
  float acc[R][NT];
#pragma unroll
  for (int rr = 0; rr < R; ++rr)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[rr][t] = 0.0f;
  if constexpr (R == 1) {
    // Many tokens: decode the group once, stream each token's activations past it.
    const uint8_t* row = w + static_cast<size_t>(r0) * row_bytes;
    for (int64_t g = lane; g < groups; g += 32) {
      float v[G::kGroup];
      G::decode(row, g, v);
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float4* xp = reinterpret_cast<const float4*>(x + t * cols + g * G::kGroup);
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < G::kGroup / 4; ++k) {
          const float4 f = __ldg(xp + k);
          s += v[4 * k] * f.x + v[4 * k + 1] * f.y + v[4 * k + 2] * f.z + v[4 * k + 3] * f.w;
        }
        acc[0][t] += s;
      }
    }
  } else {
    // Few tokens: their activations stay in registers while R rows are decoded against them.
    for (int64_t g = lane; g < groups; g += 32) {
      float xv[NT][G::kGroup];
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float4* xp = reinterpret_cast<const float4*>(x + t * cols + g * G::kGroup);
#pragma unroll
        for (int k = 0; k < G::kGroup / 4; ++k) {
          const float4 f = __ldg(xp + k);
          xv[t][4 * k] = f.x, xv[t][4 * k + 1] = f.y, xv[t][4 * k + 2] = f.z;
          xv[t][4 * k + 3] = f.w;
        }
      }
#pragma unroll
      for (int rr = 0; rr < R; ++rr) {
        if (r0 + rr >= rows) break;  // same for every lane of the warp
        float v[G::kGroup];
        G::decode(w + static_cast<size_t>(r0 + rr) * row_bytes, g, v);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
          float s = 0.0f;
#pragma unroll
          for (int k = 0; k < G::kGroup; ++k) s += v[k] * xv[t][k];
          acc[rr][t] += s;
        }
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < R; ++rr) {
    if (r0 + rr >= rows) break;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float s = warp_sum(acc[rr][t]);
      if (lane == 0) y[t * rows + r0 + rr] = s;
    }
  }
}

template <class G, int NT, int R>
void launch_gemv_r(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                   float* y, cudaStream_t s) {
  const int64_t rows_per_block = static_cast<int64_t>(kGemvWarps) * R;
  const dim3 grid(static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block));
  gemv_kernel<G, NT, R><<<grid, kGemvWarps * 32, 0, s>>>(w, row_bytes, rows, cols, x, y);
}

// Launches gemv_kernel for n tokens; the caller has checked cols % G::kGroup == 0 and 16-byte
// alignment. Several rows per warp where the activations are few (registers allow it).
template <class G>
void launch_gemv(const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int n,
                 float* y, cudaStream_t s) {
  const auto* wb = static_cast<const uint8_t*>(w);
  constexpr int kR = G::kGroup == 32 ? 4 : 2;
  switch (n) {
    case 1:
      launch_gemv_r<G, 1, kR>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 2:
      launch_gemv_r<G, 2, 2>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 3:
      launch_gemv_r<G, 3, 1>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 4:
      launch_gemv_r<G, 4, 1>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 5:
      launch_gemv_r<G, 5, 1>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 6:
      launch_gemv_r<G, 6, 1>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 7:
      launch_gemv_r<G, 7, 1>(wb, row_bytes, rows, cols, x, y, s);
      break;
    case 8:
      launch_gemv_r<G, 8, 1>(wb, row_bytes, rows, cols, x, y, s);
      break;
    default:
      throw Error("cuda gemv", "internal: token count " + std::to_string(n) + " out of range");
  }
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace hearth::cuda
