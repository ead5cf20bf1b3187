// Matrix products for every weight type. Weights prepacked at load (Q4_0, Q8_0, Q4_K, Q6_K where
// the GEMM kernel has the layout, gemm.h: AVX2 and AVX-512) take the GEMM kernels for every token
// count, one included: they stream in the order the kernel reads them, and a token's outputs do not
// depend on its batch. Otherwise one token (decode) is memory-bound: activations are converted once
// to the format the weight type's dot kernel wants (Q8_0 / Q8_K blocks for quantized weights,
// float32 for float weights), then each thread takes a contiguous range of weight rows and dots
// each row with the token; matrices that read the same input (Q, K and V; gate and up) go through
// one such dispatch. Several tokens (prefill) are compute-bound and go to the register-blocked GEMM
// kernels of gemm/ where the SIMD level has one; the vec_dot loop remains the fallback. Every
// output is computed the same way whatever the thread count.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm/gemm.h"
#include "backend/cpu/vec_dot/vec_dot.h"
#include "util/error.h"

namespace hearth {
namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

void CpuBackend::matmul(const Weight& w, const float* x, int n, float* y) {
  matmul_shared_input({{&w, y}}, x, n);
}

bool CpuBackend::try_gemm(const Weight& w, const float* x, int n, float* y,
                          const void** packed_for) {
  const bool prepacked = w.layout >= kLayoutGemmPanels;
  if (n <= 1 && !prepacked) return false;
  const gemm::GemmKernel* g =
      prepacked
          ? gemm::gemm_kernel(w.dtype, static_cast<cpu::SimdLevel>(w.layout - kLayoutGemmPanels))
          : gemm::gemm_kernel(w.dtype);
  if (prepacked && (g == nullptr || g->run_prepacked == nullptr))
    throw Error(w.name, "internal: prepacked weight without its kernel");
  if (g == nullptr || (n < g->min_tokens && !prepacked)) return false;
  const int64_t rows = w.rows, cols = w.cols;
  const size_t act = align_up(g->act_bytes(cols, n));
  const size_t scratch =
      align_up(prepacked ? g->prepacked_scratch_bytes(cols, n) : g->scratch_bytes(cols, n));
  const size_t total = act + scratch * static_cast<size_t>(pool_.size()) + kAlign;
  const bool grew = act_scratch_.size() < total;
  if (grew) act_scratch_.resize(total);
  const auto addr = reinterpret_cast<uintptr_t>(act_scratch_.data());
  uint8_t* base = act_scratch_.data() + (align_up(addr) - addr);
  // The previous product of the same input and kernel left this packing in place.
  if (grew || packed_for == nullptr || *packed_for != g) {
    pool_.parallel_for(
        static_cast<size_t>(n),
        [&](size_t b, size_t e, int) {
          g->pack_act(x, cols, n, static_cast<int>(b), static_cast<int>(e), base);
        },
        static_cast<size_t>(g->tile_tokens));
    if (packed_for != nullptr) *packed_for = g;
  }
  pool_.parallel_for(
      static_cast<size_t>(rows),
      [&](size_t r0, size_t r1, int thread) {
        if (prepacked)
          g->run_prepacked(w.data, rows, cols, base, n, static_cast<int64_t>(r0),
                           static_cast<int64_t>(r1), y,
                           base + act + scratch * static_cast<size_t>(thread));
        else
          g->run(w.data, rows, cols, base, n, static_cast<int64_t>(r0), static_cast<int64_t>(r1), y,
                 base + act + scratch * static_cast<size_t>(thread));
      },
      static_cast<size_t>(g->panel_rows));
  return true;
}

void CpuBackend::matmul_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) {
  std::vector<MatmulOut> rest;
  const void* packed_for = nullptr;  // the kernel whose packing of x the workspace holds
  for (const MatmulOut& o : outs)
    if (!try_gemm(*o.w, x, n, o.y, &packed_for)) rest.push_back(o);
  if (rest.empty()) return;
  const int64_t cols = rest[0].w->cols;
  for (const MatmulOut& o : rest)
    if (o.w->cols != cols) throw Error("matmul", "internal: shared input with different widths");

  // The input in each activation format the weights want (at most float plus one quantized).
  struct Act {
    DType type;
    size_t row_bytes;
    const uint8_t* data;
  };
  std::vector<Act> acts;
  std::vector<size_t> act_of(rest.size());
  size_t scratch = 0;
  for (size_t i = 0; i < rest.size(); ++i) {
    const DType t = cpu::vec_dot_type(rest[i].w->dtype);
    size_t k = 0;
    while (k < acts.size() && acts[k].type != t) ++k;
    if (k == acts.size()) {
      acts.push_back({t, dtype_row_bytes(t, cols), nullptr});
      if (t != DType::F32) scratch += align_up(acts.back().row_bytes * static_cast<size_t>(n));
    }
    act_of[i] = k;
  }
  if (act_scratch_.size() < scratch) act_scratch_.resize(scratch);
  size_t offset = 0;
  for (Act& a : acts) {
    if (a.type == DType::F32) {
      a.data = reinterpret_cast<const uint8_t*>(x);
      continue;
    }
    uint8_t* dst = act_scratch_.data() + offset;
    offset += align_up(a.row_bytes * static_cast<size_t>(n));
    pool_.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e, int) {
      for (size_t t = b; t < e; ++t)
        cpu::quantize_activation(a.type, x + t * cols, dst + t * a.row_bytes, cols);
    });
    a.data = dst;
  }

  // The matrices' rows laid end to end, cut into one contiguous range per thread (whole 16-row
  // groups): each thread streams long runs of weights, which the hardware prefetchers reward;
  // handing out small chunks from a shared counter measured slower.
  std::vector<int64_t> starts{0};
  for (const MatmulOut& o : rest) starts.push_back(starts.back() + o.w->rows);
  auto rows_range = [&](int64_t b, int64_t e) {
    for (size_t i = 0; i < rest.size(); ++i) {
      const int64_t lo = std::max(b, starts[i]), hi = std::min(e, starts[i + 1]);
      if (lo >= hi) continue;
      const MatmulOut& o = rest[i];
      const Act& a = acts[act_of[i]];
      const cpu::VecDotFn dot = cpu::vec_dot_fn(o.w->dtype);
      const size_t row_bytes = dtype_row_bytes(o.w->dtype, cols);
      const auto* base = static_cast<const uint8_t*>(o.w->data);
      const size_t rows = static_cast<size_t>(o.w->rows);
      for (int64_t r = lo - starts[i]; r < hi - starts[i]; ++r) {
        const uint8_t* wr = base + static_cast<size_t>(r) * row_bytes;
        for (int t = 0; t < n; ++t)
          o.y[static_cast<size_t>(t) * rows + static_cast<size_t>(r)] =
              dot(wr, a.data + static_cast<size_t>(t) * a.row_bytes, cols);
      }
    }
  };
  pool_.parallel_for(
      static_cast<size_t>(starts.back()),
      [&](size_t b, size_t e, int) {
        rows_range(static_cast<int64_t>(b), static_cast<int64_t>(e));
      },
      16);
}

}  // namespace hearth
