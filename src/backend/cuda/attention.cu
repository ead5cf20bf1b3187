// Causal grouped-query attention over the paged KV cache, the semantics of cpu_attention.cpp: token
// t (sequence s, position p) attends to s's keys at positions 0..p, read through s's block table.
//
// One block per (token, KV head) serves all the query heads that share that KV head, so each key
// and value row is read once for the whole group. Keys are taken kChunk at a time with an online
// softmax (fixed shared memory for any length): warps score keys (lanes split head_dim), one warp
// per head turns a chunk's scores into weights, then each thread accumulates its output dimensions
// for every head of the group.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 64;     // two keys per lane in the softmax step
constexpr int kMaxGroup = 16;  // query heads per KV head (405B: 128 / 8)
constexpr int kDimsPerThread = kMaxHeadDim / kThreads;
constexpr int kDimsPerLane = kMaxHeadDim / 32;

__device__ __forceinline__ float to_f(float v) {
  return v;
}
__device__ __forceinline__ float to_f(__half v) {
  return __half2float(v);
}
__device__ __forceinline__ float to_f(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

// T: the KV cache's element type (float, __half or __nv_bfloat16).
template <class T>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(const float* __restrict__ q, const T* __restrict__ kc,
                     const T* __restrict__ vc, const int32_t* __restrict__ pos,
                     const int32_t* __restrict__ seq, const int32_t* __restrict__ block_tables,
                     const int32_t* __restrict__ table_offset, int block_size, int hq, int hkv,
                     int hd, float scale, int splits, float* __restrict__ out,
                     float* __restrict__ part_max, float* __restrict__ part_sum) {
  __shared__ float qs[kMaxGroup * kMaxHeadDim];
  __shared__ float score[kMaxGroup][kChunk];
  __shared__ int slots[kChunk];
  __shared__ float run_max[kMaxGroup], run_sum[kMaxGroup], rescale[kMaxGroup];
  const int t = static_cast<int>(blockIdx.x), kvh = static_cast<int>(blockIdx.y);
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const int group = hq / hkv, h0 = kvh * group;
  const size_t kv_dim = static_cast<size_t>(hkv) * hd;
  const size_t head_off = static_cast<size_t>(kvh) * hd;
  // This block's keys: [k_begin, k_end) of the token's 0..pos, whole chunks per split (all of
  // them without a split). Computed here from the token's own length, so the launch does not
  // depend on the batch's positions (a captured decode step replays unchanged).
  const int len = pos[t] + 1;
  const int split_len = ((len + splits - 1) / splits + kChunk - 1) / kChunk * kChunk;
  const int k_begin = static_cast<int>(blockIdx.z) * split_len;
  const int k_end = min(len, k_begin + split_len);
  const int32_t* table = block_tables + table_offset[seq[t]];
  const float* qv = q + (static_cast<size_t>(t) * hq + h0) * hd;  // the group's heads, adjacent
  for (int i = tid; i < group * hd; i += kThreads) qs[i] = qv[i];
  if (tid < group) {
    run_max[tid] = -INFINITY;
    run_sum[tid] = 0.0f;
  }
  float acc[kMaxGroup][kDimsPerThread];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g)
#pragma unroll
    for (int k = 0; k < kDimsPerThread; ++k) acc[g][k] = 0.0f;
  __syncthreads();

  for (int c0 = k_begin; c0 < k_end; c0 += kChunk) {
    const int cn = min(kChunk, k_end - c0);
    if (tid < cn) {
      const int j = c0 + tid;
      slots[tid] = table[j / block_size] * block_size + j % block_size;
    }
    __syncthreads();
    // Scores: a warp per key, the key row held in registers across the group's heads.
    for (int j = warp; j < cn; j += kWarps) {
      const T* kr = kc + static_cast<size_t>(slots[j]) * kv_dim + head_off;
      float kreg[kDimsPerLane];
#pragma unroll
      for (int c = 0; c < kDimsPerLane; ++c) {
        const int i = lane + 32 * c;
        kreg[c] = i < hd ? to_f(kr[i]) : 0.0f;
      }
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) {
        if (g >= group) break;
        float d = 0.0f;
#pragma unroll
        for (int c = 0; c < kDimsPerLane; ++c) {
          const int i = lane + 32 * c;
          if (i < hd) d += qs[g * hd + i] * kreg[c];
        }
        d = warp_sum(d);
        if (lane == 0) score[g][j] = d * scale;
      }
    }
    __syncthreads();
    // Online softmax: a warp per head rescales its running sum and turns scores into weights.
    for (int g = warp; g < group; g += kWarps) {
      const float s0 = lane < cn ? score[g][lane] : -INFINITY;
      const float s1 = lane + 32 < cn ? score[g][lane + 32] : -INFINITY;
      float cmax = fmaxf(s0, s1);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, o));
      const float new_max = fmaxf(run_max[g], cmax);  // finite: the chunk has at least one key
      const float p0 = lane < cn ? expf(s0 - new_max) : 0.0f;
      const float p1 = lane + 32 < cn ? expf(s1 - new_max) : 0.0f;
      if (lane < cn) score[g][lane] = p0;
      if (lane + 32 < cn) score[g][lane + 32] = p1;
      const float psum = warp_sum(p0 + p1);
      if (lane == 0) {
        const float f = expf(run_max[g] - new_max);  // 0 on the first chunk (-inf)
        rescale[g] = f;
        run_sum[g] = run_sum[g] * f + psum;
        run_max[g] = new_max;
      }
    }
    __syncthreads();
    // Weighted values: each value row read once for every head of the group.
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= group) break;
      const float f = rescale[g];
#pragma unroll
      for (int k = 0; k < kDimsPerThread; ++k) acc[g][k] *= f;
    }
    for (int j = 0; j < cn; ++j) {
      const T* vr = vc + static_cast<size_t>(slots[j]) * kv_dim + head_off;
#pragma unroll
      for (int k = 0; k < kDimsPerThread; ++k) {
        const int i = tid + k * kThreads;
        if (i >= hd) break;
        const float v = to_f(vr[i]);
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g) {
          if (g >= group) break;
          acc[g][k] += score[g][j] * v;
        }
      }
    }
    __syncthreads();  // the next chunk overwrites slots and scores
  }
  // Split: the unnormalized sums and their softmax state, for attention_combine (a split past the
  // token's length leaves max -inf, sum 0, acc 0, which the combine weighs as nothing).
  const bool partial = part_max != nullptr;
  const size_t row0 = (static_cast<size_t>(blockIdx.z) * gridDim.x + t) * hq + h0;
  if (partial && tid < group) {
    part_max[row0 + tid] = run_max[tid];
    part_sum[row0 + tid] = run_sum[tid];
  }
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g >= group) break;
    const float inv = partial ? 1.0f : 1.0f / run_sum[g];
    float* o = out + (row0 + g) * hd;
#pragma unroll
    for (int k = 0; k < kDimsPerThread; ++k) {
      const int i = tid + k * kThreads;
      if (i < hd) o[i] = acc[g][k] * inv;
    }
  }
}

// out[t, h] = sum_z acc_z exp(m_z - M) / sum_z l_z exp(m_z - M), M = max_z m_z: the softmax over
// all the token's keys, from the per-split partial results. One block per (token, head).
__global__ void attention_combine_kernel(const float* __restrict__ part_acc,
                                         const float* __restrict__ part_max,
                                         const float* __restrict__ part_sum, int splits,
                                         size_t rows, int hd, float* __restrict__ out) {
  const size_t row = blockIdx.x;  // token * hq + head
  float m = -INFINITY;
  for (int z = 0; z < splits; ++z) m = fmaxf(m, part_max[z * rows + row]);
  float total = 0.0f;
  for (int z = 0; z < splits; ++z)
    total += part_sum[z * rows + row] * expf(part_max[z * rows + row] - m);
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += static_cast<int>(blockDim.x)) {
    float o = 0.0f;
    for (int z = 0; z < splits; ++z)
      o += part_acc[(z * rows + row) * hd + i] * expf(part_max[z * rows + row] - m);
    out[row * hd + i] = o / total;
  }
}

}  // namespace

int attention_len_bucket(int max_len) {
  int rounded = kChunk;
  while (rounded < max_len && rounded < kChunk * kMaxSplits) rounded *= 2;
  return rounded;
}

int attention_splits(int n_tokens, int n_kv_heads, int max_len, int sm_count) {
  // Enough blocks for about two waves, and no more splits than chunks in the longest context
  // rounded up to a power of two (so the count changes rarely as it grows).
  const int blocks = n_tokens * n_kv_heads;
  const int want = (2 * sm_count + blocks - 1) / blocks;
  const int most = attention_len_bucket(max_len) / kChunk;
  return std::max(1, std::min({want, most, kMaxSplits}));
}

namespace {

template <class T>
void launch_attention(const float* q, const T* k_cache, const T* v_cache, const BatchDev& b,
                      int n_heads, int n_kv_heads, int head_dim, float scale, int splits,
                      float* partial, float* out, cudaStream_t s) {
  if (splits <= 1) {
    const dim3 grid(static_cast<unsigned>(b.n_tokens), static_cast<unsigned>(n_kv_heads), 1);
    attention_kernel<T><<<grid, kThreads, 0, s>>>(q, k_cache, v_cache, b.pos, b.seq, b.block_tables,
                                                  b.table_offset, b.block_size, n_heads, n_kv_heads,
                                                  head_dim, scale, 1, out, nullptr, nullptr);
    HEARTH_CUDA_LAUNCHED();
    return;
  }
  // Flash-decoding: each token's keys in `splits` parts of whole chunks; a second kernel combines.
  const size_t rows = static_cast<size_t>(b.n_tokens) * n_heads;
  float* part_acc = partial;
  float* part_max = part_acc + static_cast<size_t>(splits) * rows * head_dim;
  float* part_sum = part_max + static_cast<size_t>(splits) * rows;
  const dim3 grid(static_cast<unsigned>(b.n_tokens), static_cast<unsigned>(n_kv_heads),
                  static_cast<unsigned>(splits));
  attention_kernel<T><<<grid, kThreads, 0, s>>>(
      q, k_cache, v_cache, b.pos, b.seq, b.block_tables, b.table_offset, b.block_size, n_heads,
      n_kv_heads, head_dim, scale, splits, part_acc, part_max, part_sum);
  HEARTH_CUDA_LAUNCHED();
  attention_combine_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
      part_acc, part_max, part_sum, splits, rows, head_dim, out);
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace

void attention(const float* q, DType kv_t, const void* k_cache, const void* v_cache,
               const BatchDev& b, int n_heads, int n_kv_heads, int head_dim, float scale,
               int splits, float* partial, float* out, cudaStream_t s) {
  if (b.n_tokens == 0) return;
  if (head_dim > kMaxHeadDim || head_dim <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 ||
      n_heads / n_kv_heads > kMaxGroup || n_kv_heads > 65535)
    throw Error("cuda attention", "unsupported shape: head_dim " + std::to_string(head_dim) +
                                      ", heads " + std::to_string(n_heads) + "/" +
                                      std::to_string(n_kv_heads));
  switch (kv_t) {
    case DType::F32:
      return launch_attention(q, static_cast<const float*>(k_cache),
                              static_cast<const float*>(v_cache), b, n_heads, n_kv_heads, head_dim,
                              scale, splits, partial, out, s);
    case DType::F16:
      return launch_attention(q, static_cast<const __half*>(k_cache),
                              static_cast<const __half*>(v_cache), b, n_heads, n_kv_heads, head_dim,
                              scale, splits, partial, out, s);
    case DType::BF16:
      return launch_attention(q, static_cast<const __nv_bfloat16*>(k_cache),
                              static_cast<const __nv_bfloat16*>(v_cache), b, n_heads, n_kv_heads,
                              head_dim, scale, splits, partial, out, s);
    default:
      throw Error("cuda attention", std::string("internal: KV type ") + dtype_name(kv_t));
  }
}

}  // namespace hearth::cuda
