// Quantized weights times 9..64 tokens (batched decoding) on the tensor cores, without an f16 copy
// of the matrix: each block dequantizes a 64-row x 128-column tile of weights into shared memory as
// f16, converts the tokens' matching activations to f16 beside it, and four warps multiply them
// with 16x16x16 WMMA products into float32 accumulators (warp w owns rows 16w .. 16w + 15, all the
// tokens). The whole-matrix f16 dequantization that cuBLAS would need writes and reads 3.5x the
// bytes of a 4-bit matrix on every step; here each weight byte is read once per step.
//
// Few output rows (4096 for the attention output and the down projection) would leave most of the
// GPU idle, so the columns are split over several blocks when needed; their partial sums go to a
// scratch buffer and a second kernel adds them in a fixed order (results do not depend on timing).
#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

using namespace nvcuda;

constexpr int kBM = 64;       // weight rows per block
constexpr int kBK = 128;      // columns per tile
constexpr int kLd = kBK + 8;  // shared-memory row pitch in halves (keeps WMMA rows 32-byte aligned)
constexpr int kThreads = 128;  // four warps
constexpr int kGroups = kBK / 32;

template <class G, int NF>
__global__ void __launch_bounds__(kThreads)
    gemm_quant_kernel(const uint8_t* __restrict__ w, size_t stride, int64_t nb, int64_t rows,
                      int64_t cols, const float* __restrict__ x, int n, int tiles_per_split,
                      float* __restrict__ out) {
  __shared__ __align__(32) __half ws[kBM * kLd];
  __shared__ __align__(32) __half xs[NF * 16 * kLd];
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t k_begin = static_cast<int64_t>(blockIdx.y) * tiles_per_split * kBK;
  const int64_t k_end = min(cols, k_begin + static_cast<int64_t>(tiles_per_split) * kBK);

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NF];
#pragma unroll
  for (int f = 0; f < NF; ++f) wmma::fill_fragment(acc[f], 0.0f);

  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
    // The weight tile: 64 rows x 4 groups of 32, two groups per thread.
    for (int i = tid; i < kBM * kGroups; i += kThreads) {
      const int r = i / kGroups, g = i % kGroups;
      float v[32];
      if (r0 + r < rows) {
        G::decode(w + static_cast<size_t>(r0 + r) * stride, nb, k0 / 32 + g, v);
      } else {
#pragma unroll
        for (int j = 0; j < 32; ++j) v[j] = 0.0f;
      }
      __half2* dst = reinterpret_cast<__half2*>(ws + r * kLd + g * 32);
#pragma unroll
      for (int j = 0; j < 16; ++j) dst[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
    }
    // The activations: NF * 16 token rows (zeros past n) x 128 columns, float4 at a time.
    for (int i = tid; i < NF * 16 * (kBK / 4); i += kThreads) {
      const int t = i / (kBK / 4), c = 4 * (i % (kBK / 4));
      float4 f = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (t < n)
        f = __ldg(reinterpret_cast<const float4*>(x + static_cast<int64_t>(t) * cols + k0 + c));
      __half2* dst = reinterpret_cast<__half2*>(xs + t * kLd + c);
      dst[0] = __floats2half2_rn(f.x, f.y);
      dst[1] = __floats2half2_rn(f.z, f.w);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
      wmma::load_matrix_sync(a, ws + warp * 16 * kLd + kk, kLd);
#pragma unroll
      for (int f = 0; f < NF; ++f) {
        // B = the activations transposed (columns x tokens): token rows of xs, column-major.
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
        wmma::load_matrix_sync(b, xs + f * 16 * kLd + kk, kLd);
        wmma::mma_sync(acc[f], a, b, acc[f]);
      }
    }
    __syncthreads();
  }

  // Results through shared memory (the weight tile is free now): y[t, r], bounds-checked.
  float* stage = reinterpret_cast<float*>(ws) + warp * 256;
  float* dst = out + static_cast<size_t>(blockIdx.y) * n * rows;
#pragma unroll
  for (int f = 0; f < NF; ++f) {
    wmma::store_matrix_sync(stage, acc[f], 16, wmma::mem_col_major);  // stage[t * 16 + r]
    __syncwarp();
    for (int i = lane; i < 256; i += 32) {
      const int t = f * 16 + i / 16;
      const int64_t r = r0 + warp * 16 + i % 16;
      if (t < n && r < rows) dst[static_cast<size_t>(t) * rows + r] = stage[i];
    }
    __syncwarp();
  }
}

// y = the sum of the splits' partial results, in split order.
__global__ void sum_splits_kernel(const float* __restrict__ partial, int splits, size_t count,
                                  float* __restrict__ y) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float s = 0.0f;
  for (int z = 0; z < splits; ++z) s += partial[z * count + i];
  y[i] = s;
}

template <class G>
void launch(const uint8_t* w, int64_t nb, int64_t rows, int64_t cols, const float* x, int n,
            float* y, const GemmSplit& sp, float* partial, size_t stride, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>((rows + kBM - 1) / kBM), static_cast<unsigned>(sp.splits));
  float* out = sp.splits > 1 ? partial : y;
  const int nf = (n + 15) / 16;
  switch (nf) {
    case 1:
      gemm_quant_kernel<G, 1>
          <<<grid, kThreads, 0, s>>>(w, stride, nb, rows, cols, x, n, sp.tiles_per_split, out);
      break;
    case 2:
      gemm_quant_kernel<G, 2>
          <<<grid, kThreads, 0, s>>>(w, stride, nb, rows, cols, x, n, sp.tiles_per_split, out);
      break;
    case 3:
      gemm_quant_kernel<G, 3>
          <<<grid, kThreads, 0, s>>>(w, stride, nb, rows, cols, x, n, sp.tiles_per_split, out);
      break;
    case 4:
      gemm_quant_kernel<G, 4>
          <<<grid, kThreads, 0, s>>>(w, stride, nb, rows, cols, x, n, sp.tiles_per_split, out);
      break;
    default:
      throw Error("cuda gemm_quant", "internal: " + std::to_string(n) + " tokens");
  }
  HEARTH_CUDA_LAUNCHED();
  if (sp.splits > 1) {
    const size_t count = static_cast<size_t>(n) * rows;
    sum_splits_kernel<<<static_cast<unsigned>((count + 255) / 256), 256, 0, s>>>(partial, sp.splits,
                                                                                 count, y);
    HEARTH_CUDA_LAUNCHED();
  }
}

}  // namespace

GemmSplit gemm_quant_split(int64_t rows, int64_t cols, int sm_count) {
  const int64_t row_blocks = (rows + kBM - 1) / kBM;
  const int64_t tiles = (cols + kBK - 1) / kBK;
  // About four blocks per multiprocessor, so that loads of some overlap the products of others.
  const int64_t want = std::clamp<int64_t>((4 * sm_count + row_blocks - 1) / row_blocks, 1, tiles);
  GemmSplit sp;
  sp.tiles_per_split = static_cast<int>((tiles + want - 1) / want);
  sp.splits = static_cast<int>((tiles + sp.tiles_per_split - 1) / sp.tiles_per_split);
  return sp;
}

bool gemm_quant_supports(DType t, int64_t cols, int n) {
  return (t == DType::Q4_0 || t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K) &&
         cols % kBK == 0 && n > kGemvMaxTokens && n <= kGemmQuantMaxTokens;
}

void gemm_quant(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
                const GemmSplit& sp, float* partial, cudaStream_t s) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t nb = cols / block_elems(t);
  const size_t stride = row_bytes(t, cols);
  switch (t) {
    case DType::Q4_0:
      return launch<GroupQ4_0>(wb, nb, rows, cols, x, n, y, sp, partial, stride, s);
    case DType::Q8_0:
      return launch<GroupQ8_0>(wb, nb, rows, cols, x, n, y, sp, partial, stride, s);
    case DType::Q4_K:
      return launch<GroupQ4_K>(wb, nb, rows, cols, x, n, y, sp, partial, stride, s);
    case DType::Q6_K:
      return launch<GroupQ6_K>(wb, nb, rows, cols, x, n, y, sp, partial, stride, s);
    default:
      throw Error("cuda gemm_quant", std::string("internal: type ") + dtype_name(t));
  }
}

}  // namespace hearth::cuda
