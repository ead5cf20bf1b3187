// Greedy sampling on the device: the index of each row's maximum, so a greedy decode step copies
// one int per sequence to the host instead of a vocabulary of logits.
#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

constexpr int kThreads = 256;

// (value, index) with the larger value winning and the smaller index breaking ties, as a
// sequential scan that keeps the first maximum does. NaN never wins.
__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) v = ov, i = oi;
}

__global__ void argmax_kernel(const float* __restrict__ x, int64_t cols,
                              int32_t* __restrict__ out) {
  __shared__ float sv[kThreads];
  __shared__ int si[kThreads];
  const float* row = x + blockIdx.x * cols;
  float v = -INFINITY;
  int idx = 0x7fffffff;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads)
    better(v, idx, row[c], static_cast<int>(c));
  sv[threadIdx.x] = v;
  si[threadIdx.x] = idx;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) {
      float a = sv[threadIdx.x];
      int ia = si[threadIdx.x];
      better(a, ia, sv[threadIdx.x + stride], si[threadIdx.x + stride]);
      sv[threadIdx.x] = a;
      si[threadIdx.x] = ia;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = si[0] == 0x7fffffff ? 0 : si[0];
}

}  // namespace

void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out, cudaStream_t s) {
  if (rows == 0) return;
  argmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(x, cols, out);
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace hearth::cuda
