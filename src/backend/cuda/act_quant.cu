// The activation quantizers of act_quant.cuh on the device: a warp per 256 elements, eight per
// lane, with the block-wide maximum and sums taken by shuffles. Same arithmetic as the serial
// definitions (products rounded on their own, the same roundings), so the same bits.
#include "backend/cuda/act_quant.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ void load8(const float* p, float* v) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p));
  const float4 b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

__device__ __forceinline__ uint2 pack8(const int* q) {
  uint2 r;
  r.x = (q[0] & 0xFF) | (q[1] & 0xFF) << 8 | (q[2] & 0xFF) << 16 |
        static_cast<uint32_t>(q[3] & 0xFF) << 24;
  r.y = (q[4] & 0xFF) | (q[5] & 0xFF) << 8 | (q[6] & 0xFF) << 16 |
        static_cast<uint32_t>(q[7] & 0xFF) << 24;
  return r;
}

// Grid: one warp per 256 elements of one token row (blockIdx.y: the token).
__global__ void q8_0_kernel(const float* __restrict__ x, int64_t cols, int8_t* __restrict__ qs,
                            float* __restrict__ d, int32_t* __restrict__ s) {
  const int64_t t = blockIdx.y;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t base =
      (static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32) * 256;
  if (base >= cols) return;           // whole warps
  const int64_t e = base + 8 * lane;  // this lane's 8 elements; 4 lanes make a 32-block
  float v[8];
  load8(x + t * cols + e, v);
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
  const float dd = amax / 127.0f;
  const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
  int q[8], sum = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    q[j] = clamp_i8(static_cast<int>(roundf(mul_rn(v[j], id))));
    sum += q[j];
  }
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  *reinterpret_cast<uint2*>(qs + t * cols + e) = pack8(q);
  if (lane % 4 == 0) {
    const int64_t b = t * (cols / 32) + e / 32;
    d[b] = __half2float(__float2half_rn(dd));
    s[b] = sum;
  }
}

__global__ void q8_k_kernel(const float* __restrict__ x, int64_t cols, int8_t* __restrict__ qs,
                            float* __restrict__ d, int32_t* __restrict__ bsums) {
  const int64_t t = blockIdx.y;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t base =
      (static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32) * 256;
  if (base >= cols) return;
  const float* xb = x + t * cols + base;
  float v[8];
  load8(xb + 8 * lane, v);
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  // The first element of that magnitude sets the sign, as the serial scan keeps it.
  int first = 1 << 30;
#pragma unroll
  for (int j = 7; j >= 0; --j)
    if (fabsf(v[j]) == amax) first = 8 * lane + j;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) first = min(first, __shfl_xor_sync(0xffffffffu, first, o));
  int q[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sum = 0;
  float dd = 0.0f;
  if (amax != 0.0f) {
    const float iscale = -127.0f / xb[first];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      q[j] = clamp_i8(nearest_int_rn(mul_rn(iscale, v[j])));
      sum += q[j];
    }
    dd = 1.0f / iscale;
  }
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);  // two lanes make a 16-element group
  *reinterpret_cast<uint2*>(qs + t * cols + base + 8 * lane) = pack8(q);
  if (lane % 2 == 0) bsums[t * (cols / 16) + base / 16 + lane / 2] = sum;
  if (lane == 0) d[t * (cols / 256) + base / 256] = dd;
}

}  // namespace

size_t act_quant_bytes(int n, int64_t cols) {
  // qs, then d (one float per 32), then s (one int per 16): the larger of both layouts.
  const size_t nn = static_cast<size_t>(n), c = static_cast<size_t>(cols);
  return nn * c + nn * (c / 32) * 4 + nn * (c / 16) * 4 + 64;
}

QAct quantize_act(ActQuant kind, const float* x, int n, int64_t cols, void* buf, cudaStream_t s) {
  const size_t nn = static_cast<size_t>(n), c = static_cast<size_t>(cols);
  auto* base = static_cast<uint8_t*>(buf);
  auto* qs = reinterpret_cast<int8_t*>(base);
  auto* d = reinterpret_cast<float*>(base + (nn * c + 15) / 16 * 16);
  auto* sums = reinterpret_cast<int32_t*>(reinterpret_cast<uint8_t*>(d) + nn * (c / 32) * 4);
  const dim3 grid(static_cast<unsigned>((cols / 256 + kThreads / 32 - 1) / (kThreads / 32)),
                  static_cast<unsigned>(n));
  if (kind == ActQuant::kQ8_0)
    q8_0_kernel<<<grid, kThreads, 0, s>>>(x, cols, qs, d, sums);
  else
    q8_k_kernel<<<grid, kThreads, 0, s>>>(x, cols, qs, d, sums);
  HEARTH_CUDA_LAUNCHED();
  return {qs, d, sums, cols};
}

}  // namespace hearth::cuda
