// Prefill-shaped matrix products: a weight matrix (rows x k) times n tokens through
// CpuBackend::matmul (the GEMM kernels where the SIMD level has them), on 1 and 2 threads, and
// the vec_dot loop the GEMM replaces (one thread) for comparison. Reported as GFLOP/s
// (2 * rows * k * n per product). The matrices stay in L3 or stream from DRAM as in a forward
// pass: 2048 x 2048 Q4_0 is 2.25 MiB, 8192 x 2048 9 MiB.
//
//   build-gemm/bench/hearth_bench_micro --benchmark_filter='gemm|vecdot_loop'
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// BM_prefill runs the same products on weights as a loaded model holds them (uploaded, so
// prepacked where the type has a layout): the tiles a prompt's prefill spends its time in.
//
// Decode-shaped: one token through an 8B FFN matrix (14336 x 4096, far larger than the caches),
// the weights as uploaded (prepacked where the type has the layout) against the file's rows on
// the vec_dot loop, reported as the weight bytes streamed per second. Interleave them, as these
// machines' bandwidth drifts:
//   .../hearth_bench_micro --benchmark_filter=decode --benchmark_repetitions=9
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/vec_dot/vec_dot.h"
#include "format/dtype.h"
#include "quant/quantize.h"

namespace hearth {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Problem {
  DType type;
  int64_t rows, k;
  int n;
  std::unique_ptr<uint8_t, FreeDeleter> w;
  std::vector<float> x, y;
};

// Quantizing megabytes with the reference K-quant search takes long: a few distinct rows are
// quantized and tiled; the kernels' speed does not depend on the values.
Problem make_problem(DType t, int64_t rows, int64_t k, int n) {
  Problem p{t, rows, k, n, nullptr, {}, {}};
  const size_t row_bytes = dtype_row_bytes(t, k);
  p.w.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (row_bytes * rows + 63) / 64 * 64)));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> src(static_cast<size_t>(k));
  constexpr int64_t kDistinct = 8;
  for (int64_t r = 0; r < rows; ++r) {
    if (r < kDistinct) {
      for (auto& v : src) v = dist(rng);
      quant::quantize_row(t, src.data(), p.w.get() + r * row_bytes, k);
    } else {
      std::memcpy(p.w.get() + r * row_bytes, p.w.get() + (r % kDistinct) * row_bytes, row_bytes);
    }
  }
  p.x.resize(static_cast<size_t>(n * k));
  for (auto& v : p.x) v = dist(rng) * 20.0f;
  p.y.resize(static_cast<size_t>(n * rows));
  return p;
}

// The problem's weights as a model file's tensor, for CpuBackend::upload.
TensorView view_of(const Problem& p, const char* name) {
  TensorView tv;
  tv.name = name;
  tv.dtype = p.type;
  tv.shape = {p.rows, p.k};
  tv.data = p.w.get();
  tv.nbytes = dtype_row_bytes(p.type, p.k) * static_cast<size_t>(p.rows);
  tv.file = "gemm_bench";
  return tv;
}

void set_flops(benchmark::State& state, const Problem& p) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(p.rows * p.k * p.n) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

// args: type, rows, k, n, threads
void BM_gemm(benchmark::State& state) {
  Problem p = make_problem(static_cast<DType>(state.range(0)), state.range(1), state.range(2),
                           static_cast<int>(state.range(3)));
  CpuBackend be(static_cast<int>(state.range(4)));
  Weight w;
  w.dtype = p.type;
  w.rows = p.rows;
  w.cols = p.k;
  w.data = p.w.get();
  for (auto _ : state) {
    be.matmul(w, p.x.data(), p.n, p.y.data());
    benchmark::DoNotOptimize(p.y.data());
  }
  set_flops(state, p);
  state.SetLabel(dtype_name(p.type));
}

// The loop CpuBackend::matmul ran before the GEMM kernels, one thread: args type, rows, k, n.
void BM_vecdot_loop(benchmark::State& state) {
  Problem p = make_problem(static_cast<DType>(state.range(0)), state.range(1), state.range(2),
                           static_cast<int>(state.range(3)));
  const DType at = cpu::vec_dot_type(p.type);
  const size_t ab = dtype_row_bytes(at, p.k), rb = dtype_row_bytes(p.type, p.k);
  std::vector<float> act((ab * p.n + 3) / 4 + 1);
  auto* a = reinterpret_cast<uint8_t*>(act.data());
  const cpu::VecDotFn dot = cpu::vec_dot_fn(p.type);
  for (auto _ : state) {
    for (int t = 0; t < p.n; ++t) cpu::quantize_activation(at, &p.x[t * p.k], a + t * ab, p.k);
    for (int64_t r = 0; r < p.rows; ++r)
      for (int t = 0; t < p.n; ++t) p.y[t * p.rows + r] = dot(p.w.get() + r * rb, a + t * ab, p.k);
    benchmark::DoNotOptimize(p.y.data());
  }
  set_flops(state, p);
  state.SetLabel(dtype_name(p.type));
}

// args: type, threads, prepacked (0: the file's rows, vec_dot loop), tokens. Each iteration
// multiplies the tokens by the next of kLayers matrices of ffn_gate's shape, as a decode step
// streams layer after layer: one matrix alone (33 MB in Q4_0 or Q4_K) stayed partly in a 32 MB L3
// between iterations and measured up to 1.6x the rate the same kernel streamed from memory.
void BM_decode(benchmark::State& state) {
  constexpr int kLayers = 4;
  const auto t = static_cast<DType>(state.range(0));
  const bool prepacked = state.range(2) != 0;
  const int n = static_cast<int>(state.range(3));
  Problem p = make_problem(t, 14336, 4096, n);
  CpuBackend be(static_cast<int>(state.range(1)), /*mmap_weights=*/!prepacked);
  TensorView tv = view_of(p, "blk.0.ffn_gate.weight");
  // Unpacked, the weights are the file's bytes themselves: each layer needs its own copy.
  // Prepacked, each upload already writes its own.
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> copies;
  std::vector<Weight> ws;
  for (int l = 0; l < kLayers; ++l) {
    if (l > 0 && !prepacked) {
      copies.emplace_back(
          static_cast<uint8_t*>(std::aligned_alloc(64, (tv.nbytes + 63) / 64 * 64)));
      std::memcpy(copies.back().get(), p.w.get(), tv.nbytes);
      tv.data = copies.back().get();
    }
    ws.push_back(be.upload(tv));
  }
  if (prepacked && ws[0].layout == 0) {
    state.SkipWithError("no prepacked layout for this type here");
    return;
  }
  int l = 0;
  for (auto _ : state) {
    be.matmul(ws[static_cast<size_t>(l)], p.x.data(), n, p.y.data());
    l = (l + 1) % kLayers;
    benchmark::DoNotOptimize(p.y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(tv.nbytes) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + (prepacked ? " prepacked" : " file rows"));
}

BENCHMARK(BM_decode)
    ->ArgsProduct({{static_cast<int64_t>(DType::Q4_0), static_cast<int64_t>(DType::Q8_0),
                    static_cast<int64_t>(DType::Q4_K), static_cast<int64_t>(DType::Q6_K)},
                   {1, 2},
                   {0, 1},
                   {1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// Several sequences decoding together (the server's case): their step streams the same weights
// and computes n times as much. Against tokens = 1 above, tok/s tells how close the step stays
// to the memory limit.
BENCHMARK(BM_decode)
    ->ArgsProduct({{static_cast<int64_t>(DType::Q4_0), static_cast<int64_t>(DType::Q8_0),
                    static_cast<int64_t>(DType::Q4_K), static_cast<int64_t>(DType::Q6_K)},
                   {2},
                   {1},
                   {4, 8}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// args: type, rows, k, n, threads, as BM_gemm, but the weights as uploaded (prepacked where the
// type has the layout, as a loaded model runs them), which BM_gemm's run-time panels are not.
void BM_prefill(benchmark::State& state) {
  const auto t = static_cast<DType>(state.range(0));
  Problem p = make_problem(t, state.range(1), state.range(2), static_cast<int>(state.range(3)));
  CpuBackend be(static_cast<int>(state.range(4)));
  const Weight w = be.upload(view_of(p, "blk.0.attn_q.weight"));
  for (auto _ : state) {
    be.matmul(w, p.x.data(), p.n, p.y.data());
    benchmark::DoNotOptimize(p.y.data());
  }
  set_flops(state, p);
  state.SetLabel(std::string(dtype_name(t)) + (w.layout != 0 ? " prepacked" : ""));
}

BENCHMARK(BM_prefill)
    ->ArgsProduct({{static_cast<int64_t>(DType::Q4_0), static_cast<int64_t>(DType::Q8_0),
                    static_cast<int64_t>(DType::Q4_K), static_cast<int64_t>(DType::Q6_K)},
                   {4096},
                   {4096},
                   {128},
                   {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

constexpr int64_t kQ4_0 = static_cast<int64_t>(DType::Q4_0);

void gemm_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    b->Args({kQ4_0, 2048, 2048, 128, threads});
    b->Args({kQ4_0, 8192, 2048, 128, threads});
    b->Args({kQ4_0, 2048, 8192, 128, threads});
  }
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16, DType::F32})
    b->Args({static_cast<int64_t>(t), 2048, 2048, 128, 1});
  for (int n : {2, 3, 4, 8, 16, 32}) b->Args({kQ4_0, 2048, 2048, n, 1});
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16, DType::F32})
    for (int n : {2, 4, 8}) b->Args({static_cast<int64_t>(t), 2048, 2048, n, 1});
}

BENCHMARK(BM_gemm)->Apply(gemm_args)->Unit(benchmark::kMillisecond)->UseRealTime();
void vecdot_args(benchmark::internal::Benchmark* b) {
  for (int n : {2, 3, 4, 8, 128}) b->Args({kQ4_0, 2048, 2048, n});
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16, DType::F32})
    for (int n : {2, 4, 8}) b->Args({static_cast<int64_t>(t), 2048, 2048, n});
}

BENCHMARK(BM_vecdot_loop)->Apply(vecdot_args)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace hearth
