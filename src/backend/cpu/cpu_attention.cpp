// Causal grouped-query attention over the paged KV cache. The batch is cut into chunks (a run of
// one sequence's tokens x one KV head); their cost grows with position, so chunks are handed out
// largest first from a shared counter rather than as contiguous ranges, which would leave the
// thread holding the prompt's tail with most of the work.
#include <algorithm>
#include <atomic>
#include <vector>

#include "backend/cpu/attention/attention_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"

namespace hearth {

void CpuBackend::attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                           float* out) {
  const int hq = shape.n_heads, hkv = shape.n_kv_heads, hd = shape.head_dim;
  const int group = hq / hkv;
  const size_t kv_dim = static_cast<size_t>(hkv) * hd;
  const cpu::SimdLevel level = cpu::simd_level();
  const bool avx512 = hd % 16 == 0 && level >= cpu::SimdLevel::kAvx512;
  const bool avx2 = !avx512 && hd % 8 == 0 && level >= cpu::SimdLevel::kAvx2;
  // A chunk's output rows (tokens x group x head_dim floats) stay within 16 KiB of L1.
  const int chunk_tokens = std::max(1, 4096 / (group * hd));

  struct Task {
    int t0, n_tok, kvh;
    int64_t cost;
  };
  std::vector<Task> tasks;
  for (int t0 = 0; t0 < n;) {
    int t1 = t0 + 1;
    while (t1 < n && t1 - t0 < chunk_tokens && batch_->seq[t1] == batch_->seq[t0]) ++t1;
    int64_t max_len = 0;
    for (int t = t0; t < t1; ++t) max_len = std::max<int64_t>(max_len, batch_->pos[t] + 1);
    for (int h = 0; h < hkv; ++h) tasks.push_back({t0, t1 - t0, h, (t1 - t0) * max_len});
    t0 = t1;
  }
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& a, const Task& b) { return a.cost > b.cost; });

  std::atomic<size_t> next{0};
  auto work = [&](int) {
    thread_local std::vector<float> scratch;
    for (size_t i = next.fetch_add(1); i < tasks.size(); i = next.fetch_add(1)) {
      const Task& tk = tasks[i];
      cpu::AttnChunk c;
      c.f16 = kv.dtype == DType::F16;
      c.q_stride = static_cast<size_t>(hq) * hd;
      const size_t first =
          static_cast<size_t>(tk.t0) * c.q_stride + static_cast<size_t>(tk.kvh) * group * hd;
      c.q = q + first;
      c.out = out + first;
      c.n_tok = tk.n_tok;
      c.group = group;
      c.head_dim = hd;
      c.pos = batch_->pos.data() + tk.t0;
      const size_t head = static_cast<size_t>(tk.kvh) * hd * c.elem_bytes();
      c.k = static_cast<const char*>(kv.k) + head;
      c.v = static_cast<const char*>(kv.v) + head;
      c.kv_stride = kv_dim;
      c.table = batch_->block_tables.data() + batch_->table_offset[batch_->seq[tk.t0]];
      c.block_size = batch_->block_size;
      c.scale = shape.scale;
      if (avx512)
        cpu::attend_chunk_avx512(c, scratch);
      else if (avx2)
        cpu::attend_chunk_avx2(c, scratch);
      else
        cpu::attend_chunk_scalar(c, scratch);
    }
  };
  if (tasks.size() == 1)
    work(0);
  else
    pool_.run_on_all(work);
}

}  // namespace hearth
