// Decode-style matrix-vector throughput of the vec_dot kernels: one activation row against every
// row of a weight matrix that streams from DRAM, per weight type, SIMD level and row length,
// reported as weight bytes per second (Google Benchmark's G/s are GiB/s). The matrix is 512 MiB
// (HEARTH_BENCH_MATRIX_MIB overrides): at only 2x the 32 MiB L3 a scan-resistant L3 still serves
// part of each pass and the figures exceed DRAM bandwidth. The vec_dot_hot variants use a 512 KiB
// matrix that stays in L2: the kernels' compute speed without DRAM, scalar level included.
//
//   build-quant/bench/hearth_bench_micro --benchmark_filter='vec_dot|memory_read'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/vec_dot/vec_dot.h"
#include "format/dtype.h"
#include "quant/quantize.h"

namespace hearth::cpu {
using namespace hearth::quant;
namespace {

size_t matrix_bytes() {
  const char* env = std::getenv("HEARTH_BENCH_MATRIX_MIB");
  const long mib = env != nullptr ? std::atol(env) : 0;
  return static_cast<size_t>(mib > 0 ? mib : 512) << 20;
}
constexpr size_t kHotMatrixBytes = size_t{512} << 10;

struct Matrix {
  DType type{};
  int64_t k = 0;
  size_t bytes = 0;
  size_t row_bytes = 0;
  int64_t rows = 0;
  std::unique_ptr<float[]> weights;     // float storage: 4-byte aligned rows of any type
  std::unique_ptr<float[]> activation;  // vec_dot_type(type), quantized once
};

// One matrix alive at a time (benchmarks are registered grouped by type and length), shared by
// the threads of a multi-threaded run.
std::mutex g_mutex;
std::shared_ptr<Matrix> g_matrix;

std::shared_ptr<Matrix> get_matrix(DType t, int64_t k, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_matrix && g_matrix->type == t && g_matrix->k == k && g_matrix->bytes == bytes)
    return g_matrix;
  g_matrix.reset();
  auto m = std::make_shared<Matrix>();
  m->type = t;
  m->k = k;
  m->bytes = bytes;
  m->row_bytes = dtype_row_bytes(t, k);
  m->rows = static_cast<int64_t>(bytes / m->row_bytes);
  m->weights.reset(new float[(m->row_bytes * static_cast<size_t>(m->rows) + 3) / 4]);
  // Quantizing 64 MiB with the reference K-quant search would take long: quantize a few distinct
  // rows and tile them. The kernels' speed does not depend on the values.
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  constexpr int kDistinct = 8;
  std::vector<float> src(static_cast<size_t>(k));
  auto* base = reinterpret_cast<uint8_t*>(m->weights.get());
  for (int r = 0; r < kDistinct && r < m->rows; ++r) {
    for (auto& v : src) v = dist(rng);
    quantize_row(t, src.data(), base + static_cast<size_t>(r) * m->row_bytes, k);
  }
  for (int64_t r = kDistinct; r < m->rows; ++r)
    std::memcpy(base + static_cast<size_t>(r) * m->row_bytes,
                base + static_cast<size_t>(r % kDistinct) * m->row_bytes, m->row_bytes);
  const DType at = vec_dot_type(t);
  m->activation.reset(new float[(dtype_row_bytes(at, k) + 3) / 4]);
  for (auto& v : src) v = dist(rng) * 50.0f;
  quantize_row(at, src.data(), m->activation.get(), k);
  g_matrix = m;
  return m;
}

void bm_vec_dot(benchmark::State& state, DType t, cpu::SimdLevel level, int64_t k, size_t bytes) {
  const auto m = get_matrix(t, k, bytes);
  const VecDotFn fn = vec_dot_fn(t, level);
  // Each thread takes a contiguous band of rows, as the matmul's row split will.
  const int64_t per = (m->rows + state.threads() - 1) / state.threads();
  const int64_t r0 = per * state.thread_index();
  const int64_t r1 = std::min(m->rows, r0 + per);
  const auto* base = reinterpret_cast<const uint8_t*>(m->weights.get());
  std::vector<float> out(static_cast<size_t>(per));
  for (auto _ : state) {
    for (int64_t r = r0; r < r1; ++r)
      out[static_cast<size_t>(r - r0)] =
          fn(base + static_cast<size_t>(r) * m->row_bytes, m->activation.get(), k);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (r1 - r0) * static_cast<int64_t>(m->row_bytes));
  state.counters["rows"] = static_cast<double>(r1 - r0);
}

// The plain read bandwidth of the same buffer size: the limit the kernels are measured against.
void bm_memory_read(benchmark::State& state) {
  const size_t words = matrix_bytes() / sizeof(uint64_t);
  static std::unique_ptr<uint64_t[]> buf = [&] {
    std::unique_ptr<uint64_t[]> b(new uint64_t[words]);
    for (size_t i = 0; i < words; ++i) b[i] = i * 0x9E3779B97F4A7C15ull;
    return b;
  }();
  const size_t per = words / static_cast<size_t>(state.threads());
  const uint64_t* p = buf.get() + per * static_cast<size_t>(state.thread_index());
  for (auto _ : state) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i + 4 <= per; i += 4) {
      a0 ^= p[i];
      a1 ^= p[i + 1];
      a2 ^= p[i + 2];
      a3 ^= p[i + 3];
    }
    benchmark::DoNotOptimize(a0 ^ a1 ^ a2 ^ a3);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(per * sizeof(uint64_t)));
}

void bm_quantize_activation(benchmark::State& state, DType t, cpu::SimdLevel level) {
  const int64_t k = 4096;
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(k));
  for (auto& v : x) v = dist(rng);
  std::vector<float> out((dtype_row_bytes(t, k) + 3) / 4);
  const cpu::SimdLevel prev = cpu::set_simd_level(level);
  for (auto _ : state) {
    quantize_activation(t, x.data(), out.data(), k);
    benchmark::DoNotOptimize(out.data());
  }
  cpu::set_simd_level(prev);
  state.SetBytesProcessed(state.iterations() * k * static_cast<int64_t>(sizeof(float)));
}

bool register_all() {
  benchmark::RegisterBenchmark("memory_read", bm_memory_read)->UseRealTime()->Threads(1);
  benchmark::RegisterBenchmark("memory_read", bm_memory_read)->UseRealTime()->Threads(2);
  const auto best = cpu::best_simd_level();
  for (DType t :
       {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16, DType::F32}) {
    for (int64_t k : {int64_t{4096}, int64_t{14336}}) {
      for (int l = 1; l <= static_cast<int>(best); ++l) {  // scalar: see vec_dot_hot
        const auto level = static_cast<cpu::SimdLevel>(l);
        const std::string name = std::string("vec_dot/") + dtype_name(t) + "/" +
                                 cpu::simd_level_name(level) + "/" + std::to_string(k);
        benchmark::RegisterBenchmark(name.c_str(), bm_vec_dot, t, level, k, matrix_bytes())
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
      // Decode runs on both cores: the best kernel with two threads.
      const std::string name = std::string("vec_dot/") + dtype_name(t) + "/" +
                               cpu::simd_level_name(best) + "/" + std::to_string(k);
      benchmark::RegisterBenchmark(name.c_str(), bm_vec_dot, t, best, k, matrix_bytes())
          ->UseRealTime()
          ->Threads(2)
          ->Unit(benchmark::kMillisecond);
    }
    for (int l = 0; l <= static_cast<int>(best); ++l) {
      const auto level = static_cast<cpu::SimdLevel>(l);
      const std::string name =
          std::string("vec_dot_hot/") + dtype_name(t) + "/" + cpu::simd_level_name(level) + "/4096";
      benchmark::RegisterBenchmark(name.c_str(), bm_vec_dot, t, level, int64_t{4096},
                                   kHotMatrixBytes)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (DType t : {DType::Q8_0, DType::Q8_K})
    for (int l = 0; l <= static_cast<int>(best); ++l) {
      const auto level = static_cast<cpu::SimdLevel>(l);
      const std::string name =
          std::string("quantize_activation/") + dtype_name(t) + "/" + cpu::simd_level_name(level);
      benchmark::RegisterBenchmark(name.c_str(), bm_quantize_activation, t, level);
    }
  return true;
}

const bool g_registered = register_all();

}  // namespace
}  // namespace hearth::cpu
