// matmul_shared_input (Q/K/V and gate/up in one dispatch) must give exactly what separate matmul
// calls give, whatever the mix of weight types, the token count or the thread count; and those
// products must be right, checked against a double-precision product of the dequantized weights.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "quant/quantize.h"

namespace hearth {
namespace {

struct Matrix {
  DType type;
  int64_t rows;
  std::vector<uint8_t> bytes;
  Weight w;
};

Matrix make_matrix(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Matrix m{type, rows, std::vector<uint8_t>(dtype_row_bytes(type, cols) * rows), {}};
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = nd(rng);
    quant::quantize_row(type, row.data(), m.bytes.data() + r * dtype_row_bytes(type, cols), cols);
  }
  m.w.dtype = type;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.data = m.bytes.data();
  return m;
}

TEST(CpuMatmulShared, EqualsSeparateProductsForMixedTypes) {
  const int64_t cols = 512;
  std::mt19937 rng(11);
  // The Q4_K_M mix puts Q4_K and Q6_K side by side; Q8_0 and F32 want other activation formats;
  // two matrices of one type in a row reuse the input packed for the first.
  std::vector<Matrix> ms;
  ms.push_back(make_matrix(DType::Q4_K, 96, cols, rng));
  ms.push_back(make_matrix(DType::Q4_K, 48, cols, rng));
  ms.push_back(make_matrix(DType::Q6_K, 40, cols, rng));
  ms.push_back(make_matrix(DType::Q8_0, 24, cols, rng));
  ms.push_back(make_matrix(DType::F32, 17, cols, rng));
  ms.push_back(make_matrix(DType::Q4_K, 32, cols, rng));  // after others: the Q4_K packing again
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int n : {1, 3, 40}) {  // 40 tokens: the GEMM path where the CPU has one
    std::vector<float> x(static_cast<size_t>(n) * cols);
    for (float& v : x) v = nd(rng);
    std::vector<std::vector<float>> first;
    for (int threads : {1, 2}) {
      CpuBackend be(threads);
      std::vector<std::vector<float>> shared(ms.size()), separate(ms.size());
      std::vector<MatmulOut> outs;
      for (size_t i = 0; i < ms.size(); ++i) {
        shared[i].assign(static_cast<size_t>(n * ms[i].rows), NAN);
        separate[i].assign(shared[i].size(), NAN);
        outs.push_back({&ms[i].w, shared[i].data()});
      }
      be.matmul_shared_input(outs, x.data(), n);
      for (size_t i = 0; i < ms.size(); ++i) {
        be.matmul(ms[i].w, x.data(), n, separate[i].data());
        EXPECT_EQ(shared[i], separate[i]) << dtype_name(ms[i].type) << " n=" << n;
      }
      if (first.empty())
        first = shared;
      else
        EXPECT_EQ(first, shared) << "thread count changed the result, n=" << n;
    }
    // Against the dequantized weights in double: within the activation quantization's error.
    for (size_t i = 0; i < ms.size(); ++i) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < ms[i].rows; ++r) {
        quant::dequantize_row(ms[i].type,
                              ms[i].bytes.data() + r * dtype_row_bytes(ms[i].type, cols),
                              row.data(), cols);
        for (int t = 0; t < n; ++t) {
          double want = 0, scale = 0;
          for (int64_t c = 0; c < cols; ++c) {
            want += double{row[c]} * x[t * cols + c];
            scale += std::fabs(double{row[c]} * x[t * cols + c]);
          }
          EXPECT_NEAR(first[i][t * ms[i].rows + r], want, 0.01 * scale)
              << dtype_name(ms[i].type) << " row " << r << " token " << t;
        }
      }
    }
  }
}

}  // namespace
}  // namespace hearth
