#pragma once
// Host entry points of the CUDA kernels, one .cu file per responsibility. Every pointer is device
// memory; every launch goes on the given stream and is checked. Weights are in the device layouts
// of blocks.cuh (GGUF blocks, some repacked at upload); activations are float32 rows.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/act_quant.cuh"
#include "format/dtype.h"

namespace hearth::cuda {

// Bytes between two rows of `cols` elements of type t on the device (blocks.cuh's layouts).
size_t row_bytes(DType t, int64_t cols);
// Elements per block of t (1 for plain floats).
int64_t block_elems(DType t);
// Q4_0, Q8_0 and Q6_K rows from the file layout (src) to the device layout (dst), both device
// memory.
void repack_rows(DType t, const void* src, int64_t rows, int64_t cols, void* dst, cudaStream_t s);
// bf16 values to f16 (device memory); *overflow (device int) is set to 1 if a finite value does
// not fit f16's range.
void bf16_to_f16(const void* src, size_t count, void* dst, int* overflow, cudaStream_t s);

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
void kv_store(DType kv_t, void* k_cache, void* v_cache, const float* k, const float* v,
              const int32_t* slot, int n, int kv_dim, cudaStream_t s);
// RoPE on q [n, n_heads, head_dim] and k [n, n_kv_heads, head_dim] in place, then k and v into the
// cache at the batch's slots.
void rope_kv_store(float* q, float* k, const float* v, DType kv_t, void* k_cache, void* v_cache,
                   int n, int n_heads, int n_kv_heads, int head_dim, const int32_t* pos,
                   const int32_t* slot, const float* inv_freq, bool interleaved, cudaStream_t s);
// x += y, then out = rmsnorm(x) * w.
void add_rmsnorm(float* x, const float* y, DType wt, const void* w, int64_t dim, float eps, int n,
                 float* out, cudaStream_t s);
void swiglu(const float* gate, const float* up, size_t count, float* out, cudaStream_t s);
void add(float* x, const float* y, size_t count, cudaStream_t s);
void gather_rows(const float* x, const int32_t* rows, int m, int dim, float* out, cudaStream_t s);
void f32_to_f16(const float* x, size_t count, void* out_f16, cudaStream_t s);
void f32_to_bf16(const float* x, size_t count, void* out_bf16, cudaStream_t s);
// x = hi + lo in two 16-bit floats each (f16, or bf16 when bf16 is set): hi rows then lo rows, so
// one GEMM over 2n rows carries ~22 (f16) or ~16 (bf16) bits of the activations.
void split_half(const float* x, size_t count, bool bf16, void* hi, void* lo, cudaStream_t s);
// y[i] = a[i] + b[i]
void add_pair(const float* a, const float* b, size_t count, float* y, cudaStream_t s);

// attention.cu: causal GQA over the paged cache, as cpu_attention.cpp. splits > 1 divides each
// token's keys over that many blocks (flash-decoding, for few tokens over long contexts);
// `partial` then holds attention_partial_floats(...) floats of scratch.
void attention(const float* q, DType kv_t, const void* k_cache, const void* v_cache,
               const BatchDev& b, int n_heads, int n_kv_heads, int head_dim, float scale,
               int splits, float* partial, float* out, cudaStream_t s);
// attention_prefill.cu: the same causal attention on the tensor cores, for prompt chunks. `tiles`
// (device memory) holds n_tiles pairs (first token, count <= 16) of consecutive tokens of one
// sequence at consecutive positions, covering the batch.
bool attention_prefill_supports(int n_heads, int n_kv_heads, int head_dim);
void attention_prefill(const float* q, DType kv_t, const void* k_cache, const void* v_cache,
                       const BatchDev& b, const int32_t* tiles, int n_tiles, int n_heads,
                       int n_kv_heads, int head_dim, float scale, float* out, cudaStream_t s);
constexpr int kPrefillTileTokens = 16;
// How many splits attention() should use for this batch; max_len: its longest context.
int attention_splits(int n_tokens, int n_kv_heads, int max_len, int sm_count);
// The longest context rounded up as attention_splits rounds it: the split count is a function of
// (tokens, this), so a captured decode step stays valid while it does not change.
int attention_len_bucket(int max_len);
inline size_t attention_partial_floats(int splits, int n_tokens, int n_heads, int head_dim) {
  return static_cast<size_t>(splits) * n_tokens * n_heads * (head_dim + 2);
}
constexpr int kMaxHeadDim = 256;
constexpr int kMaxSplits = 64;

// act_quant.cu: n token rows of x (cols % 256 == 0, 16-byte aligned) quantized as the CPU does
// (act_quant.cuh) into `buf`, which holds act_quant_bytes(n, cols).
size_t act_quant_bytes(int n, int64_t cols);
QAct quantize_act(ActQuant kind, const float* x, int n, int64_t cols, void* buf, cudaStream_t s);

// gemv*.cu: y_m[t, r] = sum_c W_m[r, c] x[t, c] for t < n, 1 <= n <= kGemvMaxTokens, for up to
// three matrices of type t and width cols that read the same x (one launch). Quantized weights
// take x quantized as the CPU does (act_quant.cuh) into act_buf, which holds
// act_quant_bytes(n, cols).
constexpr int kGemvMaxTokens = 8;
constexpr int kGemvMaxMats = 3;
struct GemvOut {
  const void* w;
  float* y;
  int64_t rows;
};
void gemv(DType t, const GemvOut* outs, int count, int64_t cols, const float* x, int n,
          void* act_buf, cudaStream_t s);
// Any type, any cols: one element at a time (odd shapes only).
void gemv_generic(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n,
                  float* y, cudaStream_t s);

// gemm_quant.cu: y[t, r] = sum_c W[r, c] x[t, c] for quantized W and kGemvMaxTokens < n <=
// kGemmQuantMaxTokens (batched decoding), on the tensor cores, reading each weight byte once. The
// columns may be split over several blocks (GemmSplit); then `partial` holds
// splits * n * rows floats of scratch.
constexpr int kGemmQuantMaxTokens = 64;
struct GemmSplit {
  int splits = 1;
  int tiles_per_split = 1;
};
GemmSplit gemm_quant_split(int64_t rows, int64_t cols, int sm_count);
bool gemm_quant_supports(DType t, int64_t cols, int n);
void gemm_quant(DType t, const void* w, int64_t rows, int64_t cols, const float* x, int n, float* y,
                const GemmSplit& sp, float* partial, cudaStream_t s);

// dequant.cu: a quantized [rows, cols] matrix to f16, for the cuBLAS prefill path.
void dequantize_f16(DType t, const void* w, int64_t rows, int64_t cols, void* out_f16,
                    cudaStream_t s);

// argmax.cu: out[r] = index of the largest of x[r, 0..cols) (the first on ties).
void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out, cudaStream_t s);

// bandwidth.cu: device-to-device copy bandwidth in GB/s, counting bytes read plus written.
double copy_bandwidth_gbs(size_t bytes);
// matmul_peak.cu: the rate of a large bf16 cuBLAS GEMM (float32 accumulation) on random data, in
// TFLOP/s: the tensor-core ceiling prefill is measured against.
double bf16_gemm_tflops(cublasHandle_t h, cudaStream_t s);

}  // namespace hearth::cuda
