// Matrix products for every weight type. Activations are converted once per call to the format
// the weight type's dot kernel wants (Q8_0 / Q8_K blocks for quantized weights, float32 for
// float weights); then each thread takes a contiguous range of weight rows and dots each row
// with every token of the batch, so a weight row is read from memory once per step.
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/quant/quant.h"

namespace hearth {

void CpuBackend::matmul(const Weight& w, const float* x, int n, float* y) {
  const int64_t rows = w.rows, cols = w.cols;
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
