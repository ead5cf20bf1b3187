#pragma once
// Matrix-matrix products for prompt processing: y[t * rows + r] = dot(W row r, x row t) for n > 1
// tokens (and for one token, where the weights were prepacked at load). A batch of tokens is
// compute-bound, so these kernels keep a tile of weight rows x tokens in registers, unpack each
// weight block once per tile and keep the activations of a tile in cache. Decode (one token) is
// memory-bound: it stays on the vec_dot loop unless the weights are prepacked.
//
// A product takes three steps. The caller sizes one workspace (act_bytes) and one scratch area per
// thread (scratch_bytes, or prepacked_scratch_bytes for prepacked weights), both 64-byte aligned;
// pack_act converts the float activations into the kernel's layout (quantized exactly as
// cpu::quantize_activation does, so integer sums match the vec_dot kernels); then run() computes a
// range of rows. Results do not depend on how rows or tokens are split across threads, as long as
// row ranges start at a multiple of panel_rows.
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

  // Optional (nullptr where the type has none; Q4_0 and Q8_0 have it wherever they have a
  // kernel: AVX2, AVX-512 VNNI, and AVX-512 for Q4_0; Q4_K at AVX-512 and AVX-512 VNNI): the
  // whole matrix rearranged once, at load,
  // into the panels run() would otherwise build for every product, in as many bytes as the file's
  // rows. Decoding then streams the weights in the order the kernel consumes them, and a batch of
  // any size skips the packing; run_prepacked's sums are bit-identical to run()'s for every n (one
  // token included), so a sequence decodes alike alone and in a batch.
  bool (*prepack_fits)(int64_t rows, int64_t k);
  size_t (*prepacked_bytes)(int64_t rows, int64_t k);
  // Rows [r0, r1) (r0 a multiple of panel_rows) of w into their place in dst. Disjoint ranges may
  // run concurrently.
  void (*prepack)(const void* w, int64_t rows, int64_t k, int64_t r0, int64_t r1, void* dst);
  // Per-thread scratch bytes for run_prepacked (0 for one token group).
  size_t (*prepacked_scratch_bytes)(int64_t k, int n);
  // As run(), reading prepack's layout.
  void (*run_prepacked)(const void* packed, int64_t rows, int64_t k, const void* act, int n,
                        int64_t r0, int64_t r1, float* y, void* scratch);
};

// The kernel for a weight type at a SIMD level, or nullptr where there is none (the caller falls
// back to the vec_dot loop: the scalar level, and Q8_0 at AVX-512 without VNNI). Throws
// hearth::Error when the CPU lacks the level.
const GemmKernel* gemm_kernel(DType weight, cpu::SimdLevel level);
// The same at the current cpu::simd_level().
const GemmKernel* gemm_kernel(DType weight);

}  // namespace hearth::gemm
