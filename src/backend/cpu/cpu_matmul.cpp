// Matrix products for every weight type. One token (decode) is memory-bound: activations are
// converted once to the format the weight type's dot kernel wants (Q8_0 / Q8_K blocks for
// quantized weights, float32 for float weights), then each thread takes a contiguous range of
// weight rows and dots each row with the token. Several tokens (prefill) are compute-bound and go
// to the register-blocked GEMM kernels of gemm/ where the SIMD level has one; the vec_dot loop
// remains the fallback. Either way threads split the weight rows in whole tiles, so every output
// is computed the same way whatever the thread count.
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm/gemm.h"
#include "backend/cpu/quant/quant.h"

namespace hearth {
namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

void CpuBackend::matmul(const Weight& w, const float* x, int n, float* y) {
  const int64_t rows = w.rows, cols = w.cols;
  if (n > 1) {
    const gemm::GemmKernel* g = gemm::gemm_kernel(w.dtype);
    if (g != nullptr && n >= g->min_tokens) {
      const size_t act = align_up(g->act_bytes(cols, n));
      const size_t scratch = align_up(g->scratch_bytes(cols, n));
      const size_t total = act + scratch * static_cast<size_t>(pool_.size()) + kAlign;
      if (act_scratch_.size() < total) act_scratch_.resize(total);
      const auto addr = reinterpret_cast<uintptr_t>(act_scratch_.data());
      uint8_t* base = act_scratch_.data() + (align_up(addr) - addr);
      pool_.parallel_for(
          static_cast<size_t>(n),
          [&](size_t b, size_t e, int) {
            g->pack_act(x, cols, n, static_cast<int>(b), static_cast<int>(e), base);
          },
          static_cast<size_t>(g->tile_tokens));
      pool_.parallel_for(
          static_cast<size_t>(rows),
          [&](size_t r0, size_t r1, int thread) {
            g->run(w.data, rows, cols, base, n, static_cast<int64_t>(r0), static_cast<int64_t>(r1),
                   y, base + act + scratch * static_cast<size_t>(thread));
          },
          static_cast<size_t>(g->panel_rows));
      return;
    }
  }
  const DType act_type = quant::vec_dot_type(w.dtype);
  const size_t act_bytes = dtype_row_bytes(act_type, cols);
  const void* act = x;
  if (act_type != DType::F32) {
    if (act_scratch_.size() < act_bytes * static_cast<size_t>(n))
      act_scratch_.resize(act_bytes * static_cast<size_t>(n));
    pool_.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e, int) {
      for (size_t t = b; t < e; ++t)
        quant::quantize_activation(act_type, x + t * cols, act_scratch_.data() + t * act_bytes,
                                   cols);
    });
    act = act_scratch_.data();
  }
  const quant::VecDotFn dot = quant::vec_dot_fn(w.dtype);
  const size_t row_bytes = dtype_row_bytes(w.dtype, cols);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const auto* a = static_cast<const uint8_t*>(act);
  pool_.parallel_for(
      static_cast<size_t>(rows),
      [&](size_t r0, size_t r1, int) {
        for (size_t r = r0; r < r1; ++r) {
          const uint8_t* wr = base + r * row_bytes;
          for (int t = 0; t < n; ++t)
            y[static_cast<size_t>(t) * rows + r] =
                dot(wr, a + static_cast<size_t>(t) * act_bytes, cols);
        }
      },
      16);
}

}  // namespace hearth
