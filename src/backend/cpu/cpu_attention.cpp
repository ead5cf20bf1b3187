// Causal grouped-query attention over the paged KV cache. One task per (token, query head): it
// reads its sequence's keys block by block, so sequences of any length share one cache.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace hearth {

void CpuBackend::attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                           float* out) {
  const int hq = shape.n_heads, hkv = shape.n_kv_heads, hd = shape.head_dim;
  const int group = hq / hkv;
  const int kv_dim = hkv * hd;
  const int bs = batch_.block_size;
  pool_.parallel_for(static_cast<size_t>(n) * hq, [&](size_t b, size_t e, int) {
    thread_local std::vector<float> scores;
    for (size_t task = b; task < e; ++task) {
      const int t = static_cast<int>(task / hq), h = static_cast<int>(task % hq);
      const int kvh = h / group;
      const int s = batch_.seq[t];
      const int len = batch_.pos[t] + 1;  // causal: positions 0..pos
      const int32_t* table = batch_.block_tables.data() + batch_.table_offset[s];
      const float* qv = q + (static_cast<size_t>(t) * hq + h) * hd;
      if (scores.size() < static_cast<size_t>(len)) scores.resize(static_cast<size_t>(len));
      float mx = -INFINITY;
      for (int j = 0; j < len; ++j) {
        size_t slot = static_cast<size_t>(table[j / bs]) * bs + j % bs;
        const float* kr = kv.k + slot * kv_dim + static_cast<size_t>(kvh) * hd;
        float d = 0;
        for (int i = 0; i < hd; ++i) d += qv[i] * kr[i];
        scores[j] = d * shape.scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0;
      for (int j = 0; j < len; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* o = out + (static_cast<size_t>(t) * hq + h) * hd;
      std::fill(o, o + hd, 0.0f);
      for (int j = 0; j < len; ++j) {
        size_t slot = static_cast<size_t>(table[j / bs]) * bs + j % bs;
        const float* vr = kv.v + slot * kv_dim + static_cast<size_t>(kvh) * hd;
        const float p = scores[j] * inv;
        for (int i = 0; i < hd; ++i) o[i] += p * vr[i];
      }
    }
  });
}

}  // namespace hearth
