// Causal grouped-query attention over the paged KV cache. The batch is cut into chunks (a run of
// one sequence's tokens), and each chunk's work into tasks of one KV head, so the tokens' query
// rows of that head's group share every key loaded. Task costs grow with position, so tasks are
// handed out largest first from a shared counter rather than as contiguous ranges, which would
// leave the thread holding the prompt's tail with most of the work.
//
// A decode chunk (one or two tokens) deep in its context is also split by key range, as
// flash-decoding does: each range of each head is a task, and the ranges' partial softmax states
// are merged at the end, so that one long sequence keeps every thread busy however few KV heads
// it has. The split depends on the context length alone, never on the thread count, so results do
// not change with the number of threads.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "backend/cpu/attention/attention_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"

namespace hearth {
namespace {

// A chunk is split by key range when its query rows (tokens x heads x head_dim floats) fit here.
constexpr int kSplitRowFloats = 8192;
// Keys per range (before rounding to whole 16-key steps), and the most ranges per chunk.
constexpr int kRangeKeys = 512;
constexpr int kMaxRanges = 32;
// Query rows per head up to which the dot-product kernels are used (measured at 4: one 8B token).
constexpr int kDotRows = 4;

}  // namespace

void CpuBackend::attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                           float* out) {
  const int hq = shape.n_heads, hkv = shape.n_kv_heads, hd = shape.head_dim;
  const int group = hq / hkv;
  const size_t kv_dim = static_cast<size_t>(hkv) * hd;
  const cpu::SimdLevel level = cpu::simd_level();
  const bool avx512 = hd % 16 == 0 && level >= cpu::SimdLevel::kAvx512;
  const bool avx2 = !avx512 && hd % 8 == 0 && level >= cpu::SimdLevel::kAvx2;
  const bool vector = avx512 || avx2;
  // A chunk's output rows (tokens x group x head_dim floats) stay within 16 KiB of L1.
  const int chunk_tokens = std::max(1, 4096 / (group * hd));

  auto make_chunk = [&](int t0, int n_tok, int kvh) {
    cpu::AttnChunk c;
    c.f16 = kv.dtype == DType::F16;
    c.q_stride = static_cast<size_t>(hq) * hd;
    const size_t first =
        static_cast<size_t>(t0) * c.q_stride + static_cast<size_t>(kvh) * group * hd;
    c.q = q + first;
    c.out = out + first;
    c.n_tok = n_tok;
    c.group = group;
    c.head_dim = hd;
    c.pos = batch_->pos.data() + t0;
    const size_t head = static_cast<size_t>(kvh) * hd * c.elem_bytes();
    c.k = static_cast<const char*>(kv.k) + head;
    c.v = static_cast<const char*>(kv.v) + head;
    c.kv_stride = kv_dim;
    c.table = batch_->block_tables.data() + batch_->table_offset[batch_->seq[t0]];
    c.block_size = batch_->block_size;
    c.scale = shape.scale;
    return c;
  };

  struct Task {
    int t0, n_tok, kvh;
    int j_lo, j_hi;  // the keys it adds
    size_t part;     // where its state goes in `parts` for the merge; SIZE_MAX: into out
    int64_t cost;
  };
  struct Split {  // a chunk whose ranges' states are merged after the tasks
    int t0, n_tok, ranges;
    size_t part;  // range r of head h: part + (r * hkv + h) * state floats
  };
  std::vector<Task> tasks;
  std::vector<Split> splits;
  size_t part_floats = 0;
  for (int t0 = 0; t0 < n;) {
    int t1 = t0 + 1;
    while (t1 < n && t1 - t0 < chunk_tokens && batch_->seq[t1] == batch_->seq[t0]) ++t1;
    const int n_tok = t1 - t0;
    int len = 0;
    for (int t = t0; t < t1; ++t) len = std::max(len, batch_->pos[t] + 1);
    int ranges = 1, per = len;
    if (vector && n_tok * hq * hd <= kSplitRowFloats) {
      ranges = std::clamp((len + kRangeKeys - 1) / kRangeKeys, 1, kMaxRanges);
      per = ((len + ranges - 1) / ranges + 15) / 16 * 16;
      ranges = (len + per - 1) / per;
    }
    const size_t state = cpu::attn_state_floats(make_chunk(t0, n_tok, 0));
    for (int r = 0; r < ranges; ++r) {
      const int lo = r * per, hi = std::min(len, lo + per);
      for (int h = 0; h < hkv; ++h) {
        const size_t part =
            ranges == 1 ? SIZE_MAX : part_floats + (static_cast<size_t>(r) * hkv + h) * state;
        tasks.push_back({t0, n_tok, h, lo, hi, part, int64_t{n_tok} * (hi - lo)});
      }
    }
    if (ranges > 1) {
      splits.push_back({t0, n_tok, ranges, part_floats});
      part_floats += static_cast<size_t>(ranges) * hkv * state;
    }
    t0 = t1;
  }
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& a, const Task& b) { return a.cost > b.cost; });
  thread_local std::vector<float> parts;  // the calling thread's; workers reach it by part_mem
  if (parts.size() < part_floats) parts.resize(part_floats);
  float* const part_mem = parts.data();

  std::atomic<size_t> next{0};
  auto work = [&](int) {
    thread_local std::vector<float> scratch;
    for (size_t i = next.fetch_add(1); i < tasks.size(); i = next.fetch_add(1)) {
      const Task& tk = tasks[i];
      const cpu::AttnChunk c = make_chunk(tk.t0, tk.n_tok, tk.kvh);
      if (!vector) {
        cpu::attend_chunk_scalar(c, scratch);
        continue;
      }
      const size_t own = tk.part == SIZE_MAX ? cpu::attn_state_floats(c) : 0;
      if (scratch.size() < own + cpu::attend_work_floats(c))
        scratch.resize(own + cpu::attend_work_floats(c));
      const cpu::AttnState st =
          cpu::attn_state_begin(c, tk.part == SIZE_MAX ? scratch.data() : part_mem + tk.part);
      float* kernel_work = scratch.data() + own;
      const bool few_rows = c.n_tok * c.group <= kDotRows;
      if (avx512 && few_rows && cpu::attend_keys_dot_avx512_supports(hd))
        cpu::attend_keys_dot_avx512(c, tk.j_lo, tk.j_hi, st, kernel_work);
      else if (avx2 && few_rows && cpu::attend_keys_dot_avx2_supports(hd))
        cpu::attend_keys_dot_avx2(c, tk.j_lo, tk.j_hi, st, kernel_work);
      else if (avx512)
        cpu::attend_keys_avx512(c, tk.j_lo, tk.j_hi, st, kernel_work);
      else
        cpu::attend_keys_avx2(c, tk.j_lo, tk.j_hi, st, kernel_work);
      if (tk.part == SIZE_MAX) cpu::attn_state_finish(c, st);
    }
  };
  if (tasks.size() == 1)
    work(0);
  else
    pool_.run_on_all(work);

  std::vector<cpu::AttnState> range_states;
  for (const Split& sp : splits) {
    const size_t state = cpu::attn_state_floats(make_chunk(sp.t0, sp.n_tok, 0));
    for (int h = 0; h < hkv; ++h) {
      const cpu::AttnChunk c = make_chunk(sp.t0, sp.n_tok, h);
      range_states.clear();
      for (int r = 0; r < sp.ranges; ++r)
        range_states.push_back(
            cpu::attn_state_at(c, part_mem + sp.part + (static_cast<size_t>(r) * hkv + h) * state));
      cpu::attn_state_merge(c, range_states.data(), sp.ranges);
    }
  }
}

}  // namespace hearth
