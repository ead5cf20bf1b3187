// The small per-element and per-row kernels of the forward pass: embedding lookup, RMSNorm (alone
// and after the residual add), RoPE (alone and fused with the KV store), KV store, SwiGLU, residual
// add, row gather, and the activation conversions for cuBLAS.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

constexpr int kThreads = 256;
// Norms run one block per token row; decoding has one or a few rows, so each block is wide (a
// 4096-wide row is four loads per thread, not sixteen one after another).
constexpr int kNormThreads = 1024;
// RoPE + KV store: one block per token, likewise wide.
constexpr int kRopeThreads = 512;

unsigned blocks_for(size_t count) {
  return static_cast<unsigned>((count + kThreads - 1) / kThreads);
}

__global__ void embed_kernel(DType t, const uint8_t* __restrict__ table, size_t rb, int64_t cols,
                             const int32_t* __restrict__ tokens, float* __restrict__ out) {
  const int tok = static_cast<int>(blockIdx.x);
  const uint8_t* row = table + static_cast<size_t>(tokens[tok]) * rb;
  for (int64_t c = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; c < cols;
       c += static_cast<int64_t>(gridDim.y) * blockDim.x)
    out[tok * cols + c] = load_elem(t, row, cols, c);
}

// One block per row; the sum of squares is reduced across the block, then every thread scales its
// elements. The weight vector may be any type (decoded per element).
__global__ void __launch_bounds__(kNormThreads)
    rmsnorm_kernel(const float* __restrict__ x, DType wt, const uint8_t* __restrict__ w,
                   int64_t dim, float eps, float* __restrict__ out) {
  __shared__ float partial[kNormThreads / 32];
  const float* xr = x + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = warp_sum(ss);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.0f;
  for (int k = 0; k < kNormThreads / 32; ++k) total += partial[k];  // same order in every thread
  const float inv = 1.0f / sqrtf(total / static_cast<float>(dim) + eps);
  float* o = out + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
    o[i] = load_elem(wt, w, dim, i) * (xr[i] * inv);
}

// One thread per rotated pair. The angle is float32 as the reference computes it; cos and sin
// come from double and are rounded, exactly as the CPU backend does.
__global__ void rope_kernel(float* __restrict__ x, int n, int n_heads, int head_dim,
                            const int32_t* __restrict__ pos, const float* __restrict__ inv_freq,
                            bool interleaved) {
  const int half = head_dim / 2;
  const size_t total = static_cast<size_t>(n) * n_heads * half;
  const size_t idx = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int i = static_cast<int>(idx % half);
  const size_t th = idx / half;  // token * n_heads + head
  const int t = static_cast<int>(th / n_heads);
  const float angle = static_cast<float>(pos[t]) * inv_freq[i];
  const float c = static_cast<float>(cos(static_cast<double>(angle)));
  const float s = static_cast<float>(sin(static_cast<double>(angle)));
  float* v = x + th * head_dim;
  const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
  const float a = v[ia], b = v[ib];
  v[ia] = a * c - b * s;
  v[ib] = b * c + a * s;
}

__device__ __forceinline__ void store_as(float* p, float v) {
  *p = v;
}
__device__ __forceinline__ void store_as(__half* p, float v) {
  *p = __float2half_rn(v);
}
__device__ __forceinline__ void store_as(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}

template <class T>
__global__ void kv_store_kernel(T* __restrict__ kc, T* __restrict__ vc, const float* __restrict__ k,
                                const float* __restrict__ v, const int32_t* __restrict__ slot,
                                int kv_dim) {
  const int t = static_cast<int>(blockIdx.x);
  const size_t dst = static_cast<size_t>(slot[t]) * kv_dim;
  const size_t src = static_cast<size_t>(t) * kv_dim;
  for (int i = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x); i < kv_dim;
       i += static_cast<int>(gridDim.y * blockDim.x)) {
    store_as(kc + dst + i, k[src + i]);
    store_as(vc + dst + i, v[src + i]);
  }
}

// RoPE of one token's q and k heads and the store of its k and v rows, in one kernel: one block per
// token. The cosines and sines of the token's position are computed once (from double, rounded, as
// the CPU does) and shared by every head.
template <class T>
__global__ void __launch_bounds__(kRopeThreads)
    rope_kv_store_kernel(float* __restrict__ q, float* __restrict__ k, const float* __restrict__ v,
                         T* __restrict__ kc, T* __restrict__ vc, const int32_t* __restrict__ pos,
                         const int32_t* __restrict__ slot, const float* __restrict__ inv_freq,
                         bool interleaved, int n_heads, int n_kv_heads, int head_dim) {
  __shared__ float cs[kMaxHeadDim / 2], sn[kMaxHeadDim / 2];
  const int t = static_cast<int>(blockIdx.x);
  const int half = head_dim / 2;
  const float p = static_cast<float>(pos[t]);
  for (int i = static_cast<int>(threadIdx.x); i < half; i += static_cast<int>(blockDim.x)) {
    const float angle = p * inv_freq[i];
    cs[i] = static_cast<float>(cos(static_cast<double>(angle)));
    sn[i] = static_cast<float>(sin(static_cast<double>(angle)));
  }
  __syncthreads();
  const int pairs = (n_heads + n_kv_heads) * half;
  for (int idx = static_cast<int>(threadIdx.x); idx < pairs; idx += static_cast<int>(blockDim.x)) {
    const int h = idx / half, i = idx % half;
    float* x = h < n_heads ? q + (static_cast<size_t>(t) * n_heads + h) * head_dim
                           : k + (static_cast<size_t>(t) * n_kv_heads + (h - n_heads)) * head_dim;
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float a = x[ia], b = x[ib];
    x[ia] = a * cs[i] - b * sn[i];
    x[ib] = b * cs[i] + a * sn[i];
  }
  __syncthreads();  // the rotated k row is read back below by other threads of the block
  const int kv_dim = n_kv_heads * head_dim;
  const size_t dst = static_cast<size_t>(slot[t]) * kv_dim;
  const size_t src = static_cast<size_t>(t) * kv_dim;
  for (int i = static_cast<int>(threadIdx.x); i < kv_dim; i += static_cast<int>(blockDim.x)) {
    store_as(kc + dst + i, k[src + i]);
    store_as(vc + dst + i, v[src + i]);
  }
}

// x += y, then out = rmsnorm(x) * w, one block per row: the residual add and the next layer's
// norm in one pass over x.
__global__ void __launch_bounds__(kNormThreads)
    add_rmsnorm_kernel(float* __restrict__ x, const float* __restrict__ y, DType wt,
                       const uint8_t* __restrict__ w, int64_t dim, float eps,
                       float* __restrict__ out) {
  __shared__ float partial[kNormThreads / 32];
  float* xr = x + blockIdx.x * dim;
  const float* yr = y + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i] + yr[i];
    xr[i] = v;
    ss += v * v;
  }
  ss = warp_sum(ss);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.0f;
  for (int k = 0; k < kNormThreads / 32; ++k) total += partial[k];
  const float inv = 1.0f / sqrtf(total / static_cast<float>(dim) + eps);
  float* o = out + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
    o[i] = load_elem(wt, w, dim, i) * (xr[i] * inv);
}

__global__ void swiglu_kernel(const float* gate, const float* up, size_t count, float* out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g = gate[i];
  out[i] = g / (1.0f + expf(-g)) * up[i];  // out may alias gate: read before write
}

__global__ void add_kernel(float* x, const float* y, size_t count) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void gather_rows_kernel(const float* __restrict__ x, const int32_t* __restrict__ rows,
                                   int dim, float* __restrict__ out) {
  const int r = static_cast<int>(blockIdx.x);
  const size_t src = static_cast<size_t>(rows[r]) * dim;
  for (int i = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x); i < dim;
       i += static_cast<int>(gridDim.y * blockDim.x))
    out[static_cast<size_t>(r) * dim + i] = x[src + i];
}

__global__ void f32_to_f16_kernel(const float* __restrict__ x, size_t count,
                                  __half* __restrict__ out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __float2half_rn(x[i]);
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, size_t count,
                                   __nv_bfloat16* __restrict__ out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __float2bfloat16_rn(x[i]);
}

template <class T>
__global__ void split_half_kernel(const float* __restrict__ x, size_t count, T* __restrict__ hi,
                                  T* __restrict__ lo) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  T h;
  store_as(&h, x[i]);
  hi[i] = h;
  store_as(lo + i, x[i] - static_cast<float>(h));
}

__global__ void add_pair_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                size_t count, float* __restrict__ y) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) y[i] = a[i] + b[i];
}

// Grid for "one row per blockIdx.x (no 65535 limit there), blocks of threads across the row".
dim3 row_grid(int64_t cols, int rows) {
  const int64_t per_row = (cols + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(rows), static_cast<unsigned>(per_row < 64 ? per_row : 64));
}

}  // namespace

void embed(DType t, const void* table, int64_t cols, const int32_t* tokens, int n, float* out,
           cudaStream_t s) {
  if (n == 0) return;
  embed_kernel<<<row_grid(cols, n), kThreads, 0, s>>>(t, static_cast<const uint8_t*>(table),
                                                      row_bytes(t, cols), cols, tokens, out);
  HEARTH_CUDA_LAUNCHED();
}

void rmsnorm(const float* x, DType wt, const void* w, int64_t dim, float eps, int n, float* out,
             cudaStream_t s) {
  if (n == 0) return;
  rmsnorm_kernel<<<static_cast<unsigned>(n), kNormThreads, 0, s>>>(
      x, wt, static_cast<const uint8_t*>(w), dim, eps, out);
  HEARTH_CUDA_LAUNCHED();
}

void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, const float* inv_freq,
          bool interleaved, cudaStream_t s) {
  const size_t total = static_cast<size_t>(n) * n_heads * (head_dim / 2);
  if (total == 0) return;
  rope_kernel<<<blocks_for(total), kThreads, 0, s>>>(x, n, n_heads, head_dim, pos, inv_freq,
                                                     interleaved);
  HEARTH_CUDA_LAUNCHED();
}

void kv_store(DType kv_t, void* k_cache, void* v_cache, const float* k, const float* v,
              const int32_t* slot, int n, int kv_dim, cudaStream_t s) {
  if (n == 0) return;
  const dim3 grid = row_grid(kv_dim, n);
  switch (kv_t) {
    case DType::F32:
      kv_store_kernel<<<grid, kThreads, 0, s>>>(static_cast<float*>(k_cache),
                                                static_cast<float*>(v_cache), k, v, slot, kv_dim);
      break;
    case DType::F16:
      kv_store_kernel<<<grid, kThreads, 0, s>>>(static_cast<__half*>(k_cache),
                                                static_cast<__half*>(v_cache), k, v, slot, kv_dim);
      break;
    case DType::BF16:
      kv_store_kernel<<<grid, kThreads, 0, s>>>(static_cast<__nv_bfloat16*>(k_cache),
                                                static_cast<__nv_bfloat16*>(v_cache), k, v, slot,
                                                kv_dim);
      break;
    default:
      throw Error("cuda kv_store", std::string("internal: KV type ") + dtype_name(kv_t));
  }
  HEARTH_CUDA_LAUNCHED();
}

void rope_kv_store(float* q, float* k, const float* v, DType kv_t, void* k_cache, void* v_cache,
                   int n, int n_heads, int n_kv_heads, int head_dim, const int32_t* pos,
                   const int32_t* slot, const float* inv_freq, bool interleaved, cudaStream_t s) {
  if (n == 0) return;
  auto go = [&](auto* kc, auto* vc) {
    rope_kv_store_kernel<<<static_cast<unsigned>(n), kRopeThreads, 0, s>>>(
        q, k, v, kc, vc, pos, slot, inv_freq, interleaved, n_heads, n_kv_heads, head_dim);
  };
  switch (kv_t) {
    case DType::F32:
      go(static_cast<float*>(k_cache), static_cast<float*>(v_cache));
      break;
    case DType::F16:
      go(static_cast<__half*>(k_cache), static_cast<__half*>(v_cache));
      break;
    case DType::BF16:
      go(static_cast<__nv_bfloat16*>(k_cache), static_cast<__nv_bfloat16*>(v_cache));
      break;
    default:
      throw Error("cuda rope_kv_store", std::string("internal: KV type ") + dtype_name(kv_t));
  }
  HEARTH_CUDA_LAUNCHED();
}

void add_rmsnorm(float* x, const float* y, DType wt, const void* w, int64_t dim, float eps, int n,
                 float* out, cudaStream_t s) {
  if (n == 0) return;
  add_rmsnorm_kernel<<<static_cast<unsigned>(n), kNormThreads, 0, s>>>(
      x, y, wt, static_cast<const uint8_t*>(w), dim, eps, out);
  HEARTH_CUDA_LAUNCHED();
}

void swiglu(const float* gate, const float* up, size_t count, float* out, cudaStream_t s) {
  if (count == 0) return;
  swiglu_kernel<<<blocks_for(count), kThreads, 0, s>>>(gate, up, count, out);
  HEARTH_CUDA_LAUNCHED();
}

void add(float* x, const float* y, size_t count, cudaStream_t s) {
  if (count == 0) return;
  add_kernel<<<blocks_for(count), kThreads, 0, s>>>(x, y, count);
  HEARTH_CUDA_LAUNCHED();
}

void gather_rows(const float* x, const int32_t* rows, int m, int dim, float* out, cudaStream_t s) {
  if (m == 0) return;
  gather_rows_kernel<<<row_grid(dim, m), kThreads, 0, s>>>(x, rows, dim, out);
  HEARTH_CUDA_LAUNCHED();
}

void f32_to_f16(const float* x, size_t count, void* out_f16, cudaStream_t s) {
  if (count == 0) return;
  f32_to_f16_kernel<<<blocks_for(count), kThreads, 0, s>>>(x, count, static_cast<__half*>(out_f16));
  HEARTH_CUDA_LAUNCHED();
}

void f32_to_bf16(const float* x, size_t count, void* out_bf16, cudaStream_t s) {
  if (count == 0) return;
  f32_to_bf16_kernel<<<blocks_for(count), kThreads, 0, s>>>(x, count,
                                                            static_cast<__nv_bfloat16*>(out_bf16));
  HEARTH_CUDA_LAUNCHED();
}

void split_half(const float* x, size_t count, bool bf16, void* hi, void* lo, cudaStream_t s) {
  if (count == 0) return;
  if (bf16)
    split_half_kernel<<<blocks_for(count), kThreads, 0, s>>>(
        x, count, static_cast<__nv_bfloat16*>(hi), static_cast<__nv_bfloat16*>(lo));
  else
    split_half_kernel<<<blocks_for(count), kThreads, 0, s>>>(x, count, static_cast<__half*>(hi),
                                                             static_cast<__half*>(lo));
  HEARTH_CUDA_LAUNCHED();
}

void add_pair(const float* a, const float* b, size_t count, float* y, cudaStream_t s) {
  if (count == 0) return;
  add_pair_kernel<<<blocks_for(count), kThreads, 0, s>>>(a, b, count, y);
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace hearth::cuda
