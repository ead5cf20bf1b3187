#include <algorithm>
#include <cmath>

#include "backend/cpu/attention/attention_kernel.h"
#include "quant/half.h"

namespace hearth::cpu {
namespace {

float element(const void* row, bool f16, int e) {
  return f16 ? f16_to_f32(static_cast<const uint16_t*>(row)[e]) : static_cast<const float*>(row)[e];
}

}  // namespace

void attend_chunk_scalar(const AttnChunk& c, std::vector<float>& scores) {
  const int hd = c.head_dim;
  for (int i = 0; i < c.n_tok; ++i) {
    const int len = c.pos[i] + 1;
    if (scores.size() < static_cast<size_t>(len)) scores.resize(static_cast<size_t>(len));
    for (int g = 0; g < c.group; ++g) {
      const float* qv = c.q + i * c.q_stride + static_cast<size_t>(g) * hd;
      float mx = -INFINITY;
      for (int j = 0; j < len; ++j) {
        const void* kr = c.key(j);
        float d = 0;
        for (int e = 0; e < hd; ++e) d += qv[e] * element(kr, c.f16, e);
        scores[j] = d * c.scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0;
      for (int j = 0; j < len; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* o = c.out + i * c.q_stride + static_cast<size_t>(g) * hd;
      std::fill(o, o + hd, 0.0f);
      for (int j = 0; j < len; ++j) {
        const void* vr = c.value(j);
        const float p = scores[j] * inv;
        for (int e = 0; e < hd; ++e) o[e] += p * element(vr, c.f16, e);
      }
    }
  }
}

}  // namespace hearth::cpu
