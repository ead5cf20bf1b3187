#pragma once
// Host entry points of the CUDA kernels, one .cu file per responsibility. Every pointer is device
// memory; every launch goes on the given stream and is checked. Weights are raw bytes in their
// file layout (GGUF blocks for the quantized types); activations are float32 rows.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "format/dtype.h"

namespace hearth::cuda {

// Bytes of one row of `cols` elements of type t (hearth_core's dtype_row_bytes, without the link).
size_t row_bytes(DType t, int64_t cols);
// Elements per block of t (1 for plain floats).
int64_t block_elems(DType t);

// The step's batch arrays in device memory.
struct BatchDev {
  const int32_t* tokens = nullptr;
  const int32_t* pos = nullptr;
  const int32_t* seq = nullptr;
  const int32_t* slot = nullptr;
  const int32_t* block_tables = nullptr;
  const int32_t* table_offset = nullptr;
  int n_tokens = 0;
  int block_size = 16;
};

// elementwise.cu
void embed(DType t, const void* table, int64_t cols, const int32_t* tokens, int n, float* out,
           cudaStream_t s);
void rmsnorm(const float* x, DType wt, const void* w, int64_t dim, float eps, int n, float* out,
             cudaStream_t s);
void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, const float* inv_freq,
          bool interleaved, cudaStream_t s);
void kv_store(float* k_cache, float* v_cache, const float* k, const float* v, const int32_t* slot,
              int n, int kv_dim, cudaStream_t s);
void swiglu(const float* gate, const float* up, size_t count, float* out, cudaStream_t s);
void add(float* x, const float* y, size_t count, cudaStream_t s);
void gather_rows(const float* x, const int32_t* rows, int m, int dim, float* out, cudaStream_t s);
void f32_to_f16(const float* x, size_t count, void* out_f16, cudaStream_t s);
// x = hi + lo with hi = bf16(x), lo = bf16(x - hi): two bf16 GEMMs then carry ~16 mantissa bits.
void split_bf16(const float* x, size_t count, void* hi, void* lo, cudaStream_t s);

// attention.cu: causal GQA over the paged cache, as cpu_attention.cpp. splits > 1 divides each
// token's keys over that many blocks (flash-decoding, for few tokens over long contexts);
// `partial` then holds attention_partial_floats(...) floats of scratch.
void attention(const float* q, const float* k_cache, const float* v_cache, const BatchDev& b,
               int n_heads, int n_kv_heads, int head_dim, float scale, int splits, float* partial,
               float* out, cudaStream_t s);
// How many splits attention() should use for this batch; max_len: its longest context.
int attention_splits(int n_tokens, int n_kv_heads, int max_len);
inline size_t attention_partial_floats(int splits, int n_tokens, int n_heads, int head_dim) {
  return static_cast<size_t>(splits) * n_tokens * n_heads * (head_dim + 2);
}
constexpr int kMaxHeadDim = 256;
constexpr int kMaxSplits = 64;

// gemv*.cu: y[t, r] = sum_c W[r, c] x[t, c] for t < n, 1 <= n <= kGemvMaxTokens.
constexpr int kGemvMaxTokens = 8;
void gemv(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
          cudaStream_t s);
void gemv_float(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
                cudaStream_t s);
void gemv_q8_0(const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
               cudaStream_t s);
void gemv_q4_0(const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
               cudaStream_t s);
void gemv_kquant(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n,
                 float* y, cudaStream_t s);
// Any type, any cols: one element at a time (odd shapes only).
void gemv_generic(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n,
                  float* y, cudaStream_t s);

// dequant.cu: a quantized [rows, cols] matrix to f16, for the cuBLAS prefill path.
void dequantize_f16(DType t, const void* w, int64_t rows, int64_t cols, void* out_f16,
                    cudaStream_t s);

// argmax.cu: out[r] = index of the largest of x[r, 0..cols) (the first on ties).
void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out, cudaStream_t s);

// bandwidth.cu: device-to-device copy bandwidth in GB/s, counting bytes read plus written.
double copy_bandwidth_gbs(size_t bytes);

}  // namespace hearth::cuda
