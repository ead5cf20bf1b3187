#include "runtime/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <span>

#include "runtime/batch_builder.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace hearth {

double BenchStat::depth_ratio_median() const {
  if (depth_ratios.empty()) return 0;
  std::vector<double> v = depth_ratios;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

namespace {

using Clock = std::chrono::steady_clock;

BenchStat summarize(const std::string& name, std::vector<double> samples) {
  BenchStat s;
  s.test = name;
  s.samples = std::move(samples);
  double sum = 0;
  for (double x : s.samples) sum += x;
  s.mean = sum / static_cast<double>(s.samples.size());
  double var = 0;
  for (double x : s.samples) var += (x - s.mean) * (x - s.mean);
  s.sd = s.samples.size() > 1 ? std::sqrt(var / static_cast<double>(s.samples.size() - 1)) : 0.0;
  return s;
}

std::vector<int32_t> random_tokens(int n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

// Steps ask for the argmax id, as greedy generation does.
// The context a test starts from: `depth` tokens fed untimed.
void fill_depth(Session& s, int depth, int64_t vocab) {
  if (depth > 0) s.step(random_tokens(depth, vocab, 3), RowOutput::None);
}

double time_pp(Engine& e, const std::vector<int32_t>& prompt, int depth) {
  Session s(e.model(), e.cache(), e.context());
  fill_depth(s, depth, e.config().vocab_size);
  auto t0 = Clock::now();
  s.step(prompt, RowOutput::Argmax);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Seconds for tokens [i0, i1) of `toks`, one step each.
double decode(Session& s, const std::vector<int32_t>& toks, int i0, int i1) {
  auto t0 = Clock::now();
  for (int i = i0; i < i1; ++i)
    s.step(std::span(toks).subspan(static_cast<size_t>(i), 1), RowOutput::Argmax);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Seconds for n tokens at `depth`. With `ratios` (depth > 0), a second sequence decodes from
// position 0 in alternating windows, which of the two goes first alternating too, and each
// window's speed ratio is appended.
double time_tg(Engine& e, int n, int64_t vocab, int depth, std::vector<double>* ratios = nullptr) {
  Session s(e.model(), e.cache(), e.context());
  fill_depth(s, depth, vocab);
  const auto toks = random_tokens(n, vocab, 7);
  if (!ratios || depth == 0) return decode(s, toks, 0, n);
  constexpr int kWindow = 4;
  Session base(e.model(), e.cache(), e.context());
  double secs = 0;
  for (int i = 0; i < n; i += kWindow) {
    const int end = std::min(n, i + kWindow);
    double deep = 0, shallow = 0;
    if ((i / kWindow) % 2 == 0) {
      shallow = decode(base, toks, i, end);
      deep = decode(s, toks, i, end);
    } else {
      deep = decode(s, toks, i, end);
      shallow = decode(base, toks, i, end);
    }
    secs += deep;
    ratios->push_back(shallow / deep);
  }
  return secs;
}

// The KV blocks of `batch` sequences decoding together are taken here and always given back.
double time_batched_tg(Engine& e, int batch, int n, int64_t vocab) {
  KvCache& cache = e.cache();
  std::vector<SequenceKv> seqs(static_cast<size_t>(batch));
  auto release = [&] {
    for (auto& s : seqs) kv_release(cache, s);
  };
  const auto toks = random_tokens(n * batch, vocab, 9);
  BatchBuilder builder(cache.block_size());
  StepResult result;
  double secs = 0;
  try {
    auto t0 = Clock::now();
    for (int step = 0; step < n; ++step) {
      builder.reset();
      for (int s = 0; s < batch; ++s) {
        SequenceKv& sq = seqs[static_cast<size_t>(s)];
        if (!kv_reserve(cache, sq, 1))
          throw Error("bench", "out of KV blocks for " + std::to_string(batch) +
                                   " sequences decoding together");
        builder.add(sq, std::span(toks).subspan(static_cast<size_t>(step * batch + s), 1),
                    RowOutput::Argmax);
      }
      e.model().forward(builder.batch(), cache, result);
      for (auto& sq : seqs) ++sq.length;
    }
    secs = std::chrono::duration<double>(Clock::now() - t0).count();
  } catch (...) {
    release();
    throw;
  }
  release();
  return static_cast<double>(n) * batch / secs;
}

// Rank 0's collectives since the start (zero in a single process).
CommStats comm_stats(Engine& e) {
  return e.model().comm() ? e.model().comm()->stats() : CommStats{};
}

// Adds the collectives' share of `tokens` measured tokens, counted from `before`.
void add_comm(Engine& e, const CommStats& before, double tokens, BenchStat& s) {
  const CommStats now = comm_stats(e);
  s.comm_s_per_token = (now.seconds - before.seconds) / tokens;
  s.comm_bytes_per_token = static_cast<double>(now.bytes - before.bytes) / tokens;
  s.comm_time_measured = !now.device_side;
}

}  // namespace

std::vector<BenchStat> run_bench(Engine& e, const BenchOptions& o) {
  const int64_t V = e.config().vocab_size;
  std::vector<BenchStat> out;
  auto note = [&](const std::string& s) {
    if (o.on_progress) o.on_progress(s);
  };
  const std::string at = o.depth > 0 ? "@d" + std::to_string(o.depth) : "";
  if (o.prompt > 0) {
    auto prompt = random_tokens(o.prompt, V, 1);
    time_pp(e, std::vector<int32_t>(prompt.begin(), prompt.begin() + std::min(o.prompt, 16)), 0);
    std::vector<double> samples;
    const CommStats before = comm_stats(e);
    for (int r = 0; r < o.reps; ++r) {
      samples.push_back(o.prompt / time_pp(e, prompt, o.depth));
      note("pp" + std::to_string(o.prompt) + at + " rep " + std::to_string(r + 1));
    }
    out.push_back(summarize("pp" + std::to_string(o.prompt) + at, samples));
    add_comm(e, before, static_cast<double>(o.reps) * o.prompt, out.back());
  }
  if (o.gen > 0) {
    time_tg(e, std::min(o.gen, 4), V, 0);
    std::vector<double> samples, ratios;
    const CommStats before = comm_stats(e);
    for (int r = 0; r < o.reps; ++r) {
      samples.push_back(o.gen / time_tg(e, o.gen, V, o.depth, &ratios));
      note("tg" + std::to_string(o.gen) + at + " rep " + std::to_string(r + 1));
    }
    out.push_back(summarize("tg" + std::to_string(o.gen) + at, samples));
    out.back().depth_ratios = std::move(ratios);
    // The collectives of the position-0 sequence count too: per token they are the same bytes.
    add_comm(e, before, static_cast<double>(o.reps) * o.gen * (o.depth > 0 ? 2 : 1), out.back());
  }
  if (o.gen > 0 && o.batch > 0) {
    const std::string name = "tg" + std::to_string(o.gen) + "_b" + std::to_string(o.batch);
    time_batched_tg(e, o.batch, std::min(o.gen, 4), V);
    std::vector<double> samples;
    const CommStats before = comm_stats(e);
    for (int r = 0; r < o.reps; ++r) {
      samples.push_back(time_batched_tg(e, o.batch, o.gen, V));
      note(name + " rep " + std::to_string(r + 1));
    }
    out.push_back(summarize(name, samples));
    add_comm(e, before, static_cast<double>(o.reps) * o.gen * o.batch, out.back());
  }
  return out;
}

double bytes_per_token(const Engine& e, int ctx) {
  double bytes = 0;
  const Checkpoint& ck = e.checkpoint();
  for (const auto& [name, t] : ck.tensors) {
    if (name == "token_embd.weight") {
      bytes += static_cast<double>(t.nbytes) / static_cast<double>(t.shape[0]);  // one row
      if (ck.config.tie_embeddings) bytes += static_cast<double>(t.nbytes);      // the output head
    } else {
      bytes += static_cast<double>(t.nbytes);
    }
  }
  const ModelConfig& c = ck.config;
  bytes += static_cast<double>(kv_bytes_per_token(c, e.cache().dtype())) * ctx;
  return bytes;
}

double matmul_flops_per_token(const Engine& e) {
  const ModelConfig& c = e.config();
  const double d = static_cast<double>(c.hidden), hd = static_cast<double>(c.head_dim);
  const double q = static_cast<double>(c.n_heads) * hd, kv = static_cast<double>(c.n_kv_heads) * hd;
  const double ff = static_cast<double>(c.intermediate);
  const double per_layer = d * (q + 2 * kv) + q * d + 3 * d * ff;
  return 2.0 *
         (static_cast<double>(c.n_layers) * per_layer + static_cast<double>(c.vocab_size) * d);
}

double measure_read_bandwidth_gbs(int threads, size_t bytes) {
  const size_t n = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = i;
  ThreadPool pool(threads);
  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()));
  double best = 0;
  for (int pass = 0; pass < 4; ++pass) {
    auto t0 = Clock::now();
    pool.parallel_for(
        n,
        [&](size_t b, size_t e, int t) {
          uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
          size_t i = b;
          for (; i + 4 <= e; i += 4) {
            a0 += buf[i];
            a1 += buf[i + 1];
            a2 += buf[i + 2];
            a3 += buf[i + 3];
          }
          for (; i < e; ++i) a0 += buf[i];
          sums[static_cast<size_t>(t)] += a0 + a1 + a2 + a3;
        },
        4096);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(bytes) / s / 1e9);
  }
  volatile uint64_t sink = 0;
  for (auto s : sums) sink = sink + s;
  return best;
}

std::string model_type_name(const Checkpoint& ck) {
  if (ck.gguf) {
    if (auto ft = ck.gguf->get_int_opt("general.file_type")) {
      switch (*ft) {
        case 0:
          return "f32";
        case 1:
          return "f16";
        case 2:
          return "q4_0";
        case 7:
          return "q8_0";
        case 15:
          return "q4_k_m";
        case 32:
          return "bf16";
        default:
          break;
      }
    }
  }
  std::string n = dtype_name(ck.tensor("blk.0.attn_q.weight").dtype);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  return n;
}

}  // namespace hearth
