// Decode attention at depth: one token of a Llama-3.1-8B-shaped layer (32 query heads over 8 KV
// heads of 128) against `depth` cached keys, f16 cache, through CpuBackend::attention. Eight
// layers' caches are visited in turn, so that at depth they stream from memory as in a forward pass
// rather than sit in L3. Reported as the K and V bytes read per second; at depth the read of the
// cache is what decode adds per token. Depth 256 keeps the eight caches in L2/L3, which shows the
// kernel's arithmetic apart from its wait for memory.
//   .../hearth_bench_micro --benchmark_filter=attention --benchmark_repetitions=9
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "quant/half.h"

namespace hearth {
namespace {

// args: depth, threads
void BM_attention_decode(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlock = 16;
  const size_t kv_dim = static_cast<size_t>(kKvHeads) * kHeadDim;
  const int slots = (depth + kBlock) / kBlock * kBlock;
  const size_t bytes = static_cast<size_t>(slots) * kv_dim * sizeof(uint16_t);
  CpuBackend be(static_cast<int>(state.range(1)));
  constexpr int kLayers = 8;
  std::vector<DeviceBuffer> owned;
  std::vector<KvLayer> layers(kLayers);
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (KvLayer& kv : layers) {
    kv.dtype = DType::F16;
    void* kv_mem[2];
    for (void*& p : kv_mem) {
      owned.emplace_back(&be, bytes);
      p = owned.back().get();
      auto* h = static_cast<uint16_t*>(p);
      for (size_t i = 0; i < bytes / 2; ++i) h[i] = f32_to_f16(dist(rng));
    }
    kv.k = kv_mem[0];
    kv.v = kv_mem[1];
  }
  // One sequence at position `depth`, its blocks in order.
  BatchInputs b;
  b.tokens = {0};
  b.pos = {depth};
  b.seq = {0};
  b.slot = {depth};
  b.block_size = kBlock;
  for (int i = 0; i < slots / kBlock; ++i) b.block_tables.push_back(i);
  b.table_offset = {0, static_cast<int32_t>(b.block_tables.size())};
  b.argmax_rows = {0};
  be.set_batch(b);
  std::vector<float> q(static_cast<size_t>(kHeads) * kHeadDim), out(q.size());
  for (float& x : q) x = dist(rng);
  const AttentionShape shape{kHeads, kKvHeads, kHeadDim, 1.0f / std::sqrt(float{kHeadDim})};
  size_t layer = 0;
  for (auto _ : state) {
    be.attention(q.data(), layers[layer++ % kLayers], shape, 1, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double read = 2.0 * static_cast<double>(depth + 1) * kv_dim * sizeof(uint16_t);
  state.counters["GB/s"] = benchmark::Counter(read * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

BENCHMARK(BM_attention_decode)
    ->ArgsProduct({{256, 4000, 16000}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace hearth
