// Upload-time layout changes: Q4_0, Q8_0 and Q6_K rows repacked into the device layout of
// blocks.cuh (one thread per file block), and bf16 tensors converted to f16.
#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

__global__ void repack_kernel(DType t, const uint8_t* __restrict__ src, size_t src_row,
                              size_t block_bytes, int64_t nb, int64_t rows,
                              uint8_t* __restrict__ dst, size_t dst_row) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * nb) return;
  const int64_t r = idx / nb, b = idx % nb;
  repack_block(t, src + static_cast<size_t>(r) * src_row + static_cast<size_t>(b) * block_bytes, b,
               nb, dst + static_cast<size_t>(r) * dst_row);
}

// bf16 to f16, exact for every value of magnitude 2^-14 .. 65504 (f16 has bf16's 8 significant
// bits and 3 more; below 2^-14 f16 subnormals round to 2^-24). Sets *overflow when a finite value
// is too large for f16.
__global__ void bf16_to_f16_kernel(const uint16_t* __restrict__ src, size_t count,
                                   __half* __restrict__ dst, int* __restrict__ overflow) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float v = bf16_bits(src[i]);
  if (fabsf(v) > 65504.0f && isfinite(v)) *overflow = 1;
  dst[i] = __float2half_rn(v);
}

}  // namespace

void bf16_to_f16(const void* src, size_t count, void* dst, int* overflow, cudaStream_t s) {
  if (count == 0) return;
  const int threads = 256;
  bf16_to_f16_kernel<<<static_cast<unsigned>((count + threads - 1) / threads), threads, 0, s>>>(
      static_cast<const uint16_t*>(src), count, static_cast<__half*>(dst), overflow);
  HEARTH_CUDA_LAUNCHED();
}

void repack_rows(DType t, const void* src, int64_t rows, int64_t cols, void* dst, cudaStream_t s) {
  if (!repacked(t)) throw Error("cuda repack", "internal: type is kept in its file layout");
  const int64_t nb = cols / block_elems_of(t);
  const size_t src_row = file_row_bytes(t, cols);
  const size_t dst_row = gpu_row_stride(t, cols);
  if (dst_row != src_row)  // the padding bytes at the end of each row
    HEARTH_CUDA_CHECK(cudaMemsetAsync(dst, 0, dst_row * static_cast<size_t>(rows), s));
  const int64_t total = rows * nb;
  const int threads = 256;
  repack_kernel<<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0, s>>>(
      t, static_cast<const uint8_t*>(src), src_row, src_row / static_cast<size_t>(nb), nb, rows,
      static_cast<uint8_t*>(dst), dst_row);
  HEARTH_CUDA_LAUNCHED();
}

}  // namespace hearth::cuda
