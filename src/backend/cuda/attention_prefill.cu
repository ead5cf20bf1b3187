// Causal attention for prompt chunks on the tensor cores (flash attention with WMMA): the products
// Q K^T and P V run as 16x16x16 f16 matrix products with float32 accumulation; the online softmax
// runs in float32 on the CUDA cores.
//
// A block takes one tile of up to 16 consecutive tokens of one sequence and one KV head; its four
// warps take the query heads of that group (one head each; groups of more than four heads in
// rounds), so each K/V tile, converted to f16 in shared memory, serves the whole group. Keys come
// 64 at a time. WMMA's accumulator layout is opaque, so a product's result goes through shared
// memory: each lane then owns half a row (its softmax state and its half of the output row in
// registers).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

using namespace nvcuda;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kKeys = 64;  // keys per tile
constexpr int kRows = 16;  // tokens per tile

// Eight consecutive cache elements as f16, with one 16-byte store (and one or two 16-byte loads).
__device__ __forceinline__ uint4 to_half8(const float* p) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p));
  const float4 b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  const __half2 h[4] = {__floats2half2_rn(a.x, a.y), __floats2half2_rn(a.z, a.w),
                        __floats2half2_rn(b.x, b.y), __floats2half2_rn(b.z, b.w)};
  return *reinterpret_cast<const uint4*>(h);
}
__device__ __forceinline__ uint4 to_half8(const __half* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}
__device__ __forceinline__ uint4 to_half8(const __nv_bfloat16* p) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  const __nv_bfloat162* b = reinterpret_cast<const __nv_bfloat162*>(&v);
  __half2 h[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __float22half2_rn(__bfloat1622float2(b[i]));
  return *reinterpret_cast<const uint4*>(h);
}

// Shared memory, in halves/floats, for head_dim HD and `group` query heads per KV head.
template <int HD>
struct Smem {
  static constexpr int kLdh = HD + 8;     // f16 row pitch of Q, K, V tiles
  static constexpr int kLdp = kKeys + 8;  // f16 row pitch of P
  __host__ __device__ static constexpr size_t q_bytes(int group) {
    return static_cast<size_t>(group) * kRows * kLdh * 2;
  }
  static constexpr size_t kv_bytes = static_cast<size_t>(kKeys) * kLdh * 2;
  // Per warp: a float32 scratch of 16 x max(64, HD) (scores, then the P V product) and P in f16.
  static constexpr size_t warp_f32 = static_cast<size_t>(kRows) * (HD > kKeys ? HD : kKeys) * 4;
  static constexpr size_t warp_p = static_cast<size_t>(kRows) * kLdp * 2;
  __host__ __device__ static constexpr size_t total(int group) {
    return q_bytes(group) + 2 * kv_bytes + kWarps * (warp_f32 + warp_p);
  }
};

template <int HD, class T>
__global__ void __launch_bounds__(kThreads)
    attention_prefill_kernel(const float* __restrict__ q, const T* __restrict__ kc,
                             const T* __restrict__ vc, const int32_t* __restrict__ pos,
                             const int32_t* __restrict__ seq, const int32_t* __restrict__ tiles,
                             const int32_t* __restrict__ block_tables,
                             const int32_t* __restrict__ table_offset, int block_size, int hq,
                             int hkv, float scale, float* __restrict__ out) {
  using S = Smem<HD>;
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ int slots[kKeys];
  const int group = hq / hkv;
  __half* qs = reinterpret_cast<__half*>(smem);
  __half* ks = reinterpret_cast<__half*>(smem + S::q_bytes(group));
  __half* vs = reinterpret_cast<__half*>(smem + S::q_bytes(group) + S::kv_bytes);
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  unsigned char* wbase =
      smem + S::q_bytes(group) + 2 * S::kv_bytes + warp * (S::warp_f32 + S::warp_p);
  float* sw = reinterpret_cast<float*>(wbase);                  // scores, then P V
  __half* pw = reinterpret_cast<__half*>(wbase + S::warp_f32);  // probabilities

  const int t0 = tiles[2 * blockIdx.x], cnt = tiles[2 * blockIdx.x + 1];
  const int kvh = static_cast<int>(blockIdx.y);
  const int p0 = pos[t0];
  const int last = p0 + cnt - 1;  // the tile's tokens sit at positions p0 .. last
  const int32_t* table = block_tables + table_offset[seq[t0]];
  const size_t kv_dim = static_cast<size_t>(hkv) * HD;

  // The group's queries, f16, zero rows past the tile's tokens.
  for (int i = tid; i < group * kRows * HD; i += kThreads) {
    const int g = i / (kRows * HD), r = (i / HD) % kRows, d = i % HD;
    const float v =
        r < cnt ? q[(static_cast<size_t>(t0 + r) * hq + kvh * group + g) * HD + d] : 0.0f;
    qs[(g * kRows + r) * S::kLdh + d] = __float2half_rn(v);
  }

  // Each lane: row r = lane / 2, output columns [half * HD/2, +HD/2) and key columns
  // [half * 32, +32) of each score tile.
  const int r = lane / 2, half = lane % 2;
  const int my_pos = p0 + r;  // valid for r < cnt
  constexpr int kCols = HD / 2;

  for (int g0 = 0; g0 < group; g0 += kWarps) {
    const int g = g0 + warp;
    const bool active = g < group;
    float o[kCols];
#pragma unroll
    for (int j = 0; j < kCols; ++j) o[j] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int k0 = 0; k0 <= last; k0 += kKeys) {
      __syncthreads();  // the previous tile's K/V (and, first time, the queries) are done with
      if (tid < kKeys) {
        const int key = k0 + tid;
        slots[tid] = key <= last ? table[key / block_size] * block_size + key % block_size : -1;
      }
      __syncthreads();
      for (int i = tid; i < kKeys * (HD / 8); i += kThreads) {
        const int j = i / (HD / 8), d = 8 * (i % (HD / 8));
        uint4 kh = make_uint4(0, 0, 0, 0), vh = make_uint4(0, 0, 0, 0);
        if (slots[j] >= 0) {
          const size_t at =
              static_cast<size_t>(slots[j]) * kv_dim + static_cast<size_t>(kvh) * HD + d;
          kh = to_half8(kc + at);
          vh = to_half8(vc + at);
        }
        *reinterpret_cast<uint4*>(ks + j * S::kLdh + d) = kh;
        *reinterpret_cast<uint4*>(vs + j * S::kLdh + d) = vh;
      }
      __syncthreads();
      if (!active) continue;

        // Scores: 16 rows x 64 keys.
#pragma unroll
      for (int f = 0; f < kKeys / 16; ++f) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int kd = 0; kd < HD; kd += 16) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
          wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
          wmma::load_matrix_sync(a, qs + g * kRows * S::kLdh + kd, S::kLdh);
          wmma::load_matrix_sync(b, ks + f * 16 * S::kLdh + kd, S::kLdh);
          wmma::mma_sync(acc, a, b, acc);
        }
        wmma::store_matrix_sync(sw + f * 16, acc, kKeys, wmma::mem_row_major);
      }
      __syncwarp();

      // Online softmax over this lane's 32 keys of row r; the pair of lanes shares the row.
      float s[32];
      float tmax = -INFINITY;
#pragma unroll
      for (int c = 0; c < 32; ++c) {
        const int key = k0 + half * 32 + c;
        const bool ok = r < cnt && key <= my_pos;
        s[c] = ok ? sw[r * kKeys + half * 32 + c] * scale : -INFINITY;
        tmax = fmaxf(tmax, s[c]);
      }
      tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
      const float new_m = fmaxf(m, tmax);
      const bool none = new_m == -INFINITY;  // no key for this row yet (or a padding row)
      float psum = 0.0f;
#pragma unroll
      for (int c = 0; c < 32; ++c) {
        const float p = none ? 0.0f : __expf(s[c] - new_m);
        psum += p;
        pw[r * S::kLdp + half * 32 + c] = __float2half_rn(p);
      }
      psum += __shfl_xor_sync(0xffffffffu, psum, 1);
      const float factor = none || m == -INFINITY ? (none ? 1.0f : 0.0f) : __expf(m - new_m);
      l = l * factor + psum;
      m = new_m;
      __syncwarp();

      // P V: 16 rows x HD, added to this lane's half-row after rescaling.
#pragma unroll
      for (int df = 0; df < HD / 16; ++df) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int kk = 0; kk < kKeys; kk += 16) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
          wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
          wmma::load_matrix_sync(a, pw + kk, S::kLdp);
          wmma::load_matrix_sync(b, vs + kk * S::kLdh + df * 16, S::kLdh);
          wmma::mma_sync(acc, a, b, acc);
        }
        wmma::store_matrix_sync(sw + df * 16, acc, HD, wmma::mem_row_major);
      }
      __syncwarp();
#pragma unroll
      for (int j = 0; j < kCols; ++j) o[j] = o[j] * factor + sw[r * HD + half * kCols + j];
      __syncwarp();  // sw is overwritten by the next tile's scores
    }
    if (active && r < cnt) {
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      float* dst = out + (static_cast<size_t>(t0 + r) * hq + kvh * group + g) * HD + half * kCols;
#pragma unroll
      for (int j = 0; j < kCols; ++j) dst[j] = o[j] * inv;
    }
  }
}

template <int HD, class T>
void launch(const float* q, const T* kc, const T* vc, const BatchDev& b, const int32_t* tiles,
            int n_tiles, int n_heads, int n_kv_heads, float scale, float* out, cudaStream_t s) {
  const int group = n_heads / n_kv_heads;
  const size_t smem = Smem<HD>::total(group);
  auto kernel = attention_prefill_kernel<HD, T>;
  HEARTH_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(n_kv_heads));
  kernel<<<grid, kThreads, smem, s>>>(q, kc, vc, b.pos, b.seq, tiles, b.block_tables,
                                      b.table_offset, b.block_size, n_heads, n_kv_heads, scale,
                                      out);
  HEARTH_CUDA_LAUNCHED();
}

template <class T>
void by_head_dim(const float* q, const void* kc, const void* vc, const BatchDev& b,
                 const int32_t* tiles, int n_tiles, int n_heads, int n_kv_heads, int head_dim,
                 float scale, float* out, cudaStream_t s) {
  const T* k = static_cast<const T*>(kc);
  const T* v = static_cast<const T*>(vc);
  if (head_dim == 128)
    return launch<128>(q, k, v, b, tiles, n_tiles, n_heads, n_kv_heads, scale, out, s);
  if (head_dim == 64)
    return launch<64>(q, k, v, b, tiles, n_tiles, n_heads, n_kv_heads, scale, out, s);
  throw Error("cuda attention_prefill", "internal: head_dim " + std::to_string(head_dim));
}

}  // namespace

bool attention_prefill_supports(int n_heads, int n_kv_heads, int head_dim) {
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || (head_dim != 64 && head_dim != 128))
    return false;
  const int group = n_heads / n_kv_heads;
  const size_t smem = head_dim == 128 ? Smem<128>::total(group) : Smem<64>::total(group);
  return group <= 16 && smem <= 200 * 1024;
}

void attention_prefill(const float* q, DType kv_t, const void* k_cache, const void* v_cache,
                       const BatchDev& b, const int32_t* tiles, int n_tiles, int n_heads,
                       int n_kv_heads, int head_dim, float scale, float* out, cudaStream_t s) {
  if (n_tiles == 0) return;
  switch (kv_t) {
    case DType::F32:
      return by_head_dim<float>(q, k_cache, v_cache, b, tiles, n_tiles, n_heads, n_kv_heads,
                                head_dim, scale, out, s);
    case DType::F16:
      return by_head_dim<__half>(q, k_cache, v_cache, b, tiles, n_tiles, n_heads, n_kv_heads,
                                 head_dim, scale, out, s);
    case DType::BF16:
      return by_head_dim<__nv_bfloat16>(q, k_cache, v_cache, b, tiles, n_tiles, n_heads, n_kv_heads,
                                        head_dim, scale, out, s);
    default:
      throw Error("cuda attention_prefill", std::string("internal: KV type ") + dtype_name(kv_t));
  }
}

}  // namespace hearth::cuda
