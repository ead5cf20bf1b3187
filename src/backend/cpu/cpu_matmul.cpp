// Matrix products for float weight types. Each thread takes a contiguous range of weight rows,
// widens each row to float32 once and dots it with every token of the batch, so a row is read
// from memory once per step however many tokens the batch holds.
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace hearth {

namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums: lets the compiler vectorise and keeps rounding error low.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void CpuBackend::matmul(const Weight& w, const float* x, int n, float* y) {
  const int64_t rows = w.rows, cols = w.cols;
  const size_t row_bytes = dtype_row_bytes(w.dtype, cols);
  const auto* base = static_cast<const uint8_t*>(w.data);
  pool_.parallel_for(
      static_cast<size_t>(rows),
      [&](size_t r0, size_t r1, int) {
        thread_local std::vector<float> wrow;
        if (wrow.size() < static_cast<size_t>(cols)) wrow.resize(static_cast<size_t>(cols));
        for (size_t r = r0; r < r1; ++r) {
          const float* wr;
          if (w.dtype == DType::F32) {
            wr = reinterpret_cast<const float*>(base + r * row_bytes);
          } else {
            row_to_f32(w.dtype, base + r * row_bytes, wrow.data(), cols);
            wr = wrow.data();
          }
          for (int t = 0; t < n; ++t)
            y[static_cast<size_t>(t) * rows + r] =
                dot_f32(wr, x + static_cast<size_t>(t) * cols, cols);
        }
      },
      16);
}

}  // namespace hearth
