#pragma once
// llama-bench-style measurements: prompt processing (pp) and token generation (tg) tokens/s,
// plus the machine's read bandwidth so tg can be put against its memory-bound limit.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace hearth {

struct BenchStat {
  std::string test;  // "pp512", "tg128"
  double mean = 0, sd = 0;
  std::vector<double> samples;  // tokens/s of each repetition
  // Tensor parallel: rank 0's time inside collectives (waiting for the other ranks included) and
  // the bytes it sent into them, per token of the measured repetitions; 0 in a single process.
  double comm_s_per_token = 0;
  double comm_bytes_per_token = 0;
  // False when the collectives ran on a GPU's stream (NCCL): their time is not in
  // comm_s_per_token, which then counts only the host's own collectives.
  bool comm_time_measured = true;
  // tg at a depth: its speed over that of a second sequence decoding from position 0, timed in
  // alternating windows of a few tokens so both halves of each ratio see the same machine (a
  // shared machine's speed swings between runs by more than a long context costs). One ratio
  // per window of every repetition; empty for other tests.
  std::vector<double> depth_ratios;
  double depth_ratio_median() const;
};

struct BenchOptions {
  int prompt = 512;
  int gen = 128;
  int reps = 5;
  // > 0: also time `batch` sequences decoding `gen` tokens together, one token each per forward
  // step (aggregate tokens/s, test name "tg<gen>_b<batch>"). The engine needs batch * (gen + 1)
  // tokens of KV blocks besides one sequence's context, and max_batch_tokens >= batch.
  int batch = 0;
  // > 0: pp and tg run after this many tokens are already in the sequence's cache (llama-bench's
  // -d), so they measure attention over a long context; test names gain "@d<depth>". The engine
  // needs a context of depth + prompt (or gen) + 1, and for tg KV blocks for gen + 1 more tokens
  // (the sequence at position 0 that depth_ratios are measured against).
  int depth = 0;
  std::function<void(const std::string&)> on_progress;  // a line per finished repetition
};

// Runs pp and tg (skipping one whose count is 0), after one unmeasured warm-up of each.
std::vector<BenchStat> run_bench(Engine& engine, const BenchOptions& o);

// Bytes one decode step reads: every weight matrix once (the embedding only one row) plus the
// KV cache of a context of `ctx` tokens.
double bytes_per_token(const Engine& engine, int ctx);

// Multiply-adds (x2: FLOPs) of one token through every weight matrix, the output head included.
double matmul_flops_per_token(const Engine& engine);

// Best of a few timed passes summing a buffer larger than the caches, on `threads` threads.
double measure_read_bandwidth_gbs(int threads, size_t bytes = size_t{512} << 20);

// "q4_0", "q4_k_m", "bf16", ...: the file type a user would call the model.
std::string model_type_name(const Checkpoint& ck);

}  // namespace hearth
