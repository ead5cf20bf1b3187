// GEMM kernels against the scalar vec_dot kernel: for every weight type and every SIMD level this
// CPU has a GEMM for, random matrices whose row count is not a multiple of the tile and token
// counts around the tile and chunk sizes give, per output, the reference dot of the weight row with
// the token's activation row quantized by the reference quantizer. The integer sums are the same,
// so only float summation order differs: the tolerance is 1e-5 of the sum of |products|. Also:
// CpuBackend::matmul gives bit-identical outputs on 1 and 2 threads, for GEMM and decode shapes, at
// the current level and at AVX2.
#include "backend/cpu/gemm/gemm.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/vec_dot/vec_dot.h"
#include "format/dtype.h"
#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/quantize.h"
#include "util/error.h"

namespace hearth::gemm {
namespace {

using cpu::SimdLevel;

class LevelGuard {
 public:
  explicit LevelGuard(SimdLevel l) : prev_(cpu::set_simd_level(l)) {}
  ~LevelGuard() { cpu::set_simd_level(prev_); }

 private:
  SimdLevel prev_;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;
Buffer aligned_buffer(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  return Buffer(static_cast<uint8_t*>(std::aligned_alloc(64, rounded == 0 ? 64 : rounded)));
}

std::vector<float> gaussian(size_t n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A weight matrix: quantized from Gaussian values, or (raw) random bytes with sane scale fields,
// which reach the integer extremes quantization rarely produces.
Buffer make_weights(DType t, int64_t rows, int64_t k, std::mt19937& rng, bool raw) {
  const size_t row_bytes = dtype_row_bytes(t, k);
  Buffer w = aligned_buffer(row_bytes * static_cast<size_t>(rows));
  if (!raw) {
    const auto v = gaussian(static_cast<size_t>(rows * k), rng, 0.05f);
    for (int64_t r = 0; r < rows; ++r)
      quant::quantize_row(t, v.data() + r * k, w.get() + static_cast<size_t>(r) * row_bytes, k);
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  uint8_t* p = w.get();
  for (size_t i = 0; i < row_bytes * static_cast<size_t>(rows); ++i)
    p[i] = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  const size_t blocks = row_bytes * static_cast<size_t>(rows) / dtype_info(t).block_bytes;
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* blk = p + b * dtype_info(t).block_bytes;
    const uint16_t d = f32_to_f16(scale(rng)), dmin = f32_to_f16(scale(rng));
    switch (t) {
      case DType::Q4_0:
      case DType::Q8_0:
      case DType::Q4_K:
        std::memcpy(blk, &d, 2);
        if (t == DType::Q4_K) std::memcpy(blk + 2, &dmin, 2);
        break;
      case DType::Q6_K:
        std::memcpy(blk + offsetof(quant::BlockQ6_K, d), &d, 2);
        break;
      default:
        break;
    }
  }
  return w;
}

// The reference: the scalar vec_dot of each weight row with each token's activation row as the
// reference quantizer writes it; and the sum of |products| of the dequantized rows for the bound.
struct Reference {
  std::vector<float> y;
  std::vector<double> bound;
};
Reference reference(DType t, const uint8_t* w, int64_t rows, int64_t k, const float* x, int n) {
  const DType at = cpu::vec_dot_type(t);
  const size_t row_bytes = dtype_row_bytes(t, k), act_bytes = dtype_row_bytes(at, k);
  const cpu::VecDotFn dot = cpu::vec_dot_fn(t, SimdLevel::kScalar);
  Buffer act = aligned_buffer(act_bytes * static_cast<size_t>(n));
  std::vector<float> xd(static_cast<size_t>(n * k)), wd(static_cast<size_t>(k));
  for (int t2 = 0; t2 < n; ++t2) {
    quant::quantize_row(at, x + t2 * k, act.get() + t2 * act_bytes, k);
    quant::dequantize_row(at, act.get() + t2 * act_bytes, xd.data() + t2 * k, k);
  }
  Reference ref;
  ref.y.resize(static_cast<size_t>(rows * n));
  ref.bound.resize(ref.y.size());
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* wr = w + static_cast<size_t>(r) * row_bytes;
    quant::dequantize_row(t, wr, wd.data(), k);
    for (int t2 = 0; t2 < n; ++t2) {
      const size_t o = static_cast<size_t>(t2 * rows + r);
      ref.y[o] = dot(wr, act.get() + t2 * act_bytes, k);
      double s = 0;
      for (int64_t i = 0; i < k; ++i) s += std::fabs(static_cast<double>(wd[i]) * xd[t2 * k + i]);
      ref.bound[o] = 1e-5 * s + 1e-30;
    }
  }
  return ref;
}

// Runs a kernel as a two-thread caller would, sequentially: the activations packed in two token
// ranges, the rows computed in two panel-aligned ranges with separate scratch.
std::vector<float> run_kernel(const GemmKernel& g, const uint8_t* w, int64_t rows, int64_t k,
                              const float* x, int n) {
  Buffer act = aligned_buffer(g.act_bytes(k, n));
  const int split_t = n / 2;
  g.pack_act(x, k, n, 0, split_t, act.get());
  g.pack_act(x, k, n, split_t, n, act.get());
  std::vector<float> y(static_cast<size_t>(rows * n), std::nanf(""));
  const int64_t split_r =
      std::min<int64_t>(rows, (rows / 2 + g.panel_rows - 1) / g.panel_rows * g.panel_rows);
  for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, split_r}, {split_r, rows}}) {
    if (r0 >= r1) continue;
    Buffer scratch = aligned_buffer(g.scratch_bytes(k, n));
    g.run(w, rows, k, act.get(), n, r0, r1, y.data(), scratch.get());
  }
  return y;
}

struct Case {
  DType type;
  int64_t rows, k;
};

std::vector<SimdLevel> gemm_levels(DType t) {
  std::vector<SimdLevel> out;
  for (int l = 0; l <= static_cast<int>(cpu::best_simd_level()); ++l)
    if (gemm_kernel(t, static_cast<SimdLevel>(l)) != nullptr)
      out.push_back(static_cast<SimdLevel>(l));
  return out;
}

class GemmTest : public ::testing::TestWithParam<Case> {};

void check_against_reference(const Case& cs, bool raw) {
  const auto levels = gemm_levels(cs.type);
  // Machines without AVX2 have no GEMM kernel: the matmul falls back to vec_dot there, which the
  // quant suites test; the test is reported as skipped rather than passed.
  if (levels.empty())
    GTEST_SKIP() << "no GEMM kernel for " << dtype_name(cs.type) << " on this CPU (needs AVX2)";
  std::mt19937 rng(static_cast<unsigned>(cs.rows * 1000 + cs.k) + (raw ? 7u : 0u));
  const Buffer w = make_weights(cs.type, cs.rows, cs.k, rng, raw);
  for (int n : {1, 2, 3, 5, 17, 64, 130}) {
    const auto x = gaussian(static_cast<size_t>(n * cs.k), rng, 1.0f);
    const Reference ref = reference(cs.type, w.get(), cs.rows, cs.k, x.data(), n);
    for (SimdLevel l : levels) {
      const GemmKernel& g = *gemm_kernel(cs.type, l);
      LevelGuard guard(l);  // the activation quantizer of that level, as in production
      const auto y = run_kernel(g, w.get(), cs.rows, cs.k, x.data(), n);
      int bad = 0;
      for (size_t i = 0; i < y.size() && bad < 5; ++i) {
        if (!(std::fabs(y[i] - ref.y[i]) <= ref.bound[i])) {
          ++bad;
          ADD_FAILURE() << g.name << " n=" << n << " row " << i % cs.rows << " token "
                        << i / cs.rows << ": " << y[i] << " vs reference " << ref.y[i] << " (bound "
                        << ref.bound[i] << ")";
        }
      }
    }
  }
}

TEST_P(GemmTest, MatchesScalarVecDot) {
  check_against_reference(GetParam(), false);
}

// Raw blocks (every quant value, extreme scales) exist only for quantized types.
class GemmRawTest : public ::testing::TestWithParam<Case> {};

TEST_P(GemmRawTest, MatchesScalarVecDotOnRawBlocks) {
  check_against_reference(GetParam(), true);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(dtype_name(info.param.type)) + "_" + std::to_string(info.param.rows) + "x" +
         std::to_string(info.param.k);
}

// Rows: a partial last panel (quantized weights: 16-row panels on AVX-512, 8 on AVX2; floats: 32
// and 16), exactly one or two panels, and less than one panel. k: block counts that are not
// multiples of the packers' groups (4 Q4_0 blocks, 2 Q8_0 blocks) and that span several k chunks
// (512 elements for quantized weights); for floats k not multiples of 16, odd ones (F16/BF16 pack
// pairs of k) and ones spanning several k chunks.
INSTANTIATE_TEST_SUITE_P(Types, GemmTest,
                         ::testing::Values(Case{DType::Q4_0, 53, 320}, Case{DType::Q4_0, 7, 64},
                                           Case{DType::Q4_0, 19, 1120}, Case{DType::Q4_0, 8, 96},
                                           Case{DType::Q8_0, 53, 352}, Case{DType::Q8_0, 5, 1056},
                                           Case{DType::Q8_0, 16, 32}, Case{DType::Q8_0, 21, 608},
                                           Case{DType::Q4_K, 37, 512}, Case{DType::Q4_K, 5, 256},
                                           Case{DType::Q4_K, 17, 768}, Case{DType::Q4_K, 32, 1024},
                                           Case{DType::Q6_K, 37, 512}, Case{DType::Q6_K, 16, 1024},
                                           Case{DType::Q6_K, 3, 256}, Case{DType::Q6_K, 18, 1280},
                                           Case{DType::F32, 70, 600}, Case{DType::F32, 9, 16},
                                           Case{DType::F32, 33, 37}, Case{DType::F32, 16, 264},
                                           Case{DType::F16, 45, 300}, Case{DType::F16, 7, 15},
                                           Case{DType::F16, 33, 1031}, Case{DType::BF16, 70, 520},
                                           Case{DType::BF16, 40, 77}, Case{DType::BF16, 23, 1030}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Types, GemmRawTest,
                         ::testing::Values(Case{DType::Q4_0, 53, 320}, Case{DType::Q4_0, 19, 1120},
                                           Case{DType::Q8_0, 53, 352}, Case{DType::Q8_0, 21, 608},
                                           Case{DType::Q4_K, 37, 512}, Case{DType::Q4_K, 17, 768},
                                           Case{DType::Q6_K, 37, 512}, Case{DType::Q6_K, 18, 1280}),
                         case_name);

constexpr DType kWeightTypes[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K,
                                  DType::F32,  DType::F16,  DType::BF16};

TEST(GemmDispatch, KernelsFromAvx2UpAndErrorBeyondTheCpu) {
  EXPECT_EQ(gemm_kernel(DType::Q4_0, SimdLevel::kScalar), nullptr);
  if (cpu::best_simd_level() >= SimdLevel::kAvx2) {
    for (DType t : kWeightTypes) {
      const GemmKernel* g = gemm_kernel(t, SimdLevel::kAvx2);
      ASSERT_NE(g, nullptr) << dtype_name(t);
      std::string want = std::string(dtype_name(t)) + "/avx2";
      for (char& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      EXPECT_EQ(std::string(g->name), want);
      EXPECT_EQ(g->panel_rows % 8, 0) << g->name;
    }
    EXPECT_EQ(gemm_kernel(DType::Q8_K, SimdLevel::kAvx2), nullptr);
  }
  if (cpu::best_simd_level() >= SimdLevel::kAvx512) {
    // Q8_0 weights biased to unsigned overflow vpmaddubsw: no AVX-512 kernel without VNNI.
    EXPECT_EQ(gemm_kernel(DType::Q8_0, SimdLevel::kAvx512), nullptr);
    EXPECT_STREQ(gemm_kernel(DType::Q4_0, SimdLevel::kAvx512)->name, "q4_0/avx512");
  }
  if (cpu::best_simd_level() < SimdLevel::kAvx512Vnni) {
    EXPECT_THROW(gemm_kernel(DType::Q4_0, SimdLevel::kAvx512Vnni), Error);
  }
}

// Prepacked weights (built once at load) give exactly run()'s outputs, for one token as for many,
// with the rows split between two callers as two threads would.
std::vector<float> run_prepacked_kernel(const GemmKernel& g, const uint8_t* w, int64_t rows,
                                        int64_t k, const float* x, int n) {
  const size_t bytes = g.prepacked_bytes(rows, k);
  Buffer packed = aligned_buffer(bytes);
  std::memset(packed.get(), 0xA5, bytes);  // every byte the kernel reads must be written
  const int64_t split = (rows / 2 + g.panel_rows - 1) / g.panel_rows * g.panel_rows;
  g.prepack(w, rows, k, std::min(split, rows), rows, packed.get());
  g.prepack(w, rows, k, 0, std::min(split, rows), packed.get());
  Buffer act = aligned_buffer(g.act_bytes(k, n));
  g.pack_act(x, k, n, 0, n, act.get());
  std::vector<float> y(static_cast<size_t>(rows * n), std::nanf(""));
  Buffer scratch = aligned_buffer(g.prepacked_scratch_bytes(k, n));
  g.run_prepacked(packed.get(), rows, k, act.get(), n, 0, std::min(split, rows), y.data(),
                  scratch.get());
  if (split < rows)
    g.run_prepacked(packed.get(), rows, k, act.get(), n, split, rows, y.data(), scratch.get());
  return y;
}

// Every SIMD level this CPU has: the AVX2 panels (8 rows, k chunks in the sums) and the AVX-512
// ones (16 rows, one token's k unsplit) are different code.
TEST(GemmPrepacked, BitIdenticalToRunTimePanelsForEveryTokenCount) {
  int kernels = 0;
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const bool k_quant = t == DType::Q4_K || t == DType::Q6_K;
    for (SimdLevel l : gemm_levels(t)) {
      const GemmKernel& g = *gemm_kernel(t, l);
      // Q4_0 and Q8_0 have a prepacked layout at every level with a GEMM kernel, Q4_K and Q6_K at
      // the AVX-512 levels.
      if (!k_quant || l >= SimdLevel::kAvx512) {
        EXPECT_NE(g.prepack, nullptr) << g.name;
      }
      if (g.prepack == nullptr) continue;
      ++kernels;
      LevelGuard guard(l);
      // 14336: an 8B FFN's k, several of run()'s k chunks at every level. 2560: 10 K-quant units,
      // a k chunk of 8 units and a shorter last one.
      const std::vector<std::pair<int64_t, int64_t>> shapes =
          k_quant ? std::vector<std::pair<int64_t, int64_t>>{{53, 512}, {16, 1280}, {7, 256},
                                                             {9, 2560}, {40, 4096}, {19, 14336}}
                  : std::vector<std::pair<int64_t, int64_t>>{
                        {53, 320}, {16, 1088}, {7, 64}, {40, 4160}, {19, 14336}};
      for (auto [rows, k] : shapes) {
        ASSERT_TRUE(g.prepack_fits(rows, k));
        // As many bytes as the file's rows (whole panels); Q6_K's units are whole cache lines,
        // 32 bytes more (3392 bytes for 16 rows' 3360).
        const size_t panels = static_cast<size_t>((rows + g.panel_rows - 1) / g.panel_rows);
        EXPECT_EQ(g.prepacked_bytes(rows, k), t == DType::Q6_K
                                                  ? panels * static_cast<size_t>(k / 256) * 3392
                                                  : panels * g.panel_rows * dtype_row_bytes(t, k));
        std::mt19937 rng(static_cast<unsigned>(rows * 7 + k));
        for (bool raw : {false, true}) {
          const Buffer w = make_weights(t, rows, k, rng, raw);
          // 300 tokens at k 4096: more token groups than one L2-sized token chunk takes.
          for (int n : {1, 2, 3, 5, 8, 9, 17, 40, 300}) {
            if (n == 300 && k != 4096) continue;
            const auto x = gaussian(static_cast<size_t>(n * k), rng, 1.0f);
            const auto want = run_kernel(g, w.get(), rows, k, x.data(), n);
            const auto got = run_prepacked_kernel(g, w.get(), rows, k, x.data(), n);
            ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
                << g.name << " " << rows << "x" << k << " n=" << n << (raw ? " raw" : "");
          }
        }
      }
      EXPECT_FALSE(g.prepack_fits(16, 96)) << g.name << ": a block pair must not straddle k";
    }
  }
  if (kernels == 0) GTEST_SKIP() << "no prepacked kernel at this CPU's SIMD levels (needs AVX2)";
}

// Through the backend, at every SIMD level with a prepacked kernel: a Q4_0, Q8_0, Q4_K or Q6_K
// matrix uploaded (prepacked) gives each token the same bits alone as inside a batch, and stays
// within the reference bound; the token table keeps the file's rows.
TEST(GemmPrepacked, BackendDecodesATokenAloneAsInABatch) {
  int kernels = 0;
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    for (SimdLevel l : gemm_levels(t)) {
      if (gemm_kernel(t, l)->prepack == nullptr) continue;
      ++kernels;
      LevelGuard guard(l);
      SCOPED_TRACE(gemm_kernel(t, l)->name);
      std::mt19937 rng(5);
      const int64_t rows = 83, k = 512;
      const Buffer w = make_weights(t, rows, k, rng, false);
      TensorView tv;
      tv.name = "blk.0.ffn_up.weight";
      tv.dtype = t;
      tv.shape = {rows, k};
      tv.data = w.get();
      tv.nbytes = dtype_row_bytes(t, k) * static_cast<size_t>(rows);
      tv.file = "gemm_test";
      CpuBackend be(2);
      const Weight wt = be.upload(tv);
      EXPECT_EQ(wt.layout, CpuBackend::kLayoutGemmPanels + static_cast<int>(l));
      tv.name = "token_embd.weight";
      EXPECT_EQ(be.upload(tv).layout, 0);

      const int n = 6;
      const auto x = gaussian(static_cast<size_t>(n * k), rng, 1.0f);
      std::vector<float> batch(static_cast<size_t>(rows * n));
      be.matmul(wt, x.data(), n, batch.data());
      const Reference ref = reference(t, w.get(), rows, k, x.data(), n);
      for (int tok = 0; tok < n; ++tok) {
        std::vector<float> alone(static_cast<size_t>(rows));
        be.matmul(wt, x.data() + tok * k, 1, alone.data());
        EXPECT_EQ(
            0, std::memcmp(alone.data(), batch.data() + tok * rows, alone.size() * sizeof(float)))
            << "token " << tok;
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_LE(
              std::fabs(alone[static_cast<size_t>(r)] - ref.y[static_cast<size_t>(tok * rows + r)]),
              ref.bound[static_cast<size_t>(tok * rows + r)]);
      }
    }
  }
  if (kernels == 0) GTEST_SKIP() << "no prepacked kernel at this CPU's SIMD levels (needs AVX2)";
}

// The whole matmul path: same bits on 1 and 2 threads; and close to the vec_dot reference.
void check_thread_invariance() {
  std::mt19937 rng(42);
  for (DType t : kWeightTypes) {
    const int64_t rows = 83, k = 512;
    const Buffer w = make_weights(t, rows, k, rng, false);
    Weight wt;
    wt.name = "w";
    wt.dtype = t;
    wt.rows = rows;
    wt.cols = k;
    wt.data = w.get();
    for (int n : {1, 2, 9, 70}) {
      const auto x = gaussian(static_cast<size_t>(n * k), rng, 1.0f);
      std::vector<float> y1(static_cast<size_t>(rows * n)), y2(y1.size());
      CpuBackend one(1), two(2);
      one.matmul(wt, x.data(), n, y1.data());
      two.matmul(wt, x.data(), n, y2.data());
      EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)))
          << dtype_name(t) << " n=" << n;
      const Reference ref = reference(t, w.get(), rows, k, x.data(), n);
      for (size_t i = 0; i < y1.size(); ++i)
        ASSERT_LE(std::fabs(y1[i] - ref.y[i]), ref.bound[i]) << dtype_name(t) << " n=" << n;
    }
  }
}

TEST(GemmMatmul, ThreadCountDoesNotChangeOutputs) {
  check_thread_invariance();
}

// The AVX2 kernels through the matmul path as well, when the CPU has a higher level.
TEST(GemmMatmul, ThreadCountDoesNotChangeOutputsAtAvx2) {
  if (cpu::best_simd_level() < SimdLevel::kAvx2) GTEST_SKIP() << "needs AVX2";
  if (cpu::simd_level() == SimdLevel::kAvx2) GTEST_SKIP() << "covered by the test above";
  LevelGuard guard(SimdLevel::kAvx2);
  check_thread_invariance();
}

}  // namespace
}  // namespace hearth::gemm
