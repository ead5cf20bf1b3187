#pragma once
// Matrix-matrix products for prompt processing: y[t * rows + r] = dot(W row r, x row t) for n > 1
// tokens. Decode (one token) is memory-bound and stays on the vec_dot loop; a batch of tokens is
// compute-bound, so these kernels keep a tile of weight rows x tokens in registers, unpack each
// weight block once per tile and keep the activations of a tile in cache.
//
// A product takes three steps. The caller sizes one workspace (act_bytes) and one scratch area per
// thread (scratch_bytes), both 64-byte aligned; pack_act converts the float activations into the
// kernel's layout (quantized exactly as cpu::quantize_activation does, so integer sums match the
// vec_dot kernels); then run() computes a range of rows. Results do not depend on how rows or
// tokens are split across threads, as long as row ranges start at a multiple of panel_rows.
#include <cstddef>
#include <cstdint>

#include "backend/cpu/cpu_features.h"
#include "format/dtype.h"

namespace hearth::gemm {

struct GemmKernel {
  const char* name;  // e.g. "q4_0/avx512vnni", for benchmarks and test names
  int panel_rows;    // weight rows per tile: run()'s row ranges must start at a multiple of it
  int tile_tokens;   // tokens per activation group: pack_act ranges ideally start at a multiple
  // Below this many tokens the vec_dot loop is faster (packing the weights does not pay off).
  int min_tokens;
  // Workspace bytes for n activation rows of k elements.
  size_t (*act_bytes)(int64_t k, int n);
  // Packs tokens [t0, t1) of x (n rows of k floats). Disjoint ranges may run concurrently.
  void (*pack_act)(const float* x, int64_t k, int n, int t0, int t1, void* act);
  // Per-thread scratch bytes for run().
  size_t (*scratch_bytes)(int64_t k, int n);
  // Rows [r0, r1) of y for all n tokens; w is the whole matrix (rows x k, row-major).
  void (*run)(const void* w, int64_t rows, int64_t k, const void* act, int n, int64_t r0,
              int64_t r1, float* y, void* scratch);
};

// The kernel for a weight type at a SIMD level, or nullptr where there is none (the caller falls
// back to the vec_dot loop: the scalar level, and Q8_0 at AVX-512 without VNNI). Throws
// hearth::Error when the CPU lacks the level.
const GemmKernel* gemm_kernel(DType weight, cpu::SimdLevel level);
// The same at the current cpu::simd_level().
const GemmKernel* gemm_kernel(DType weight);

}  // namespace hearth::gemm
