// The online-softmax state shared by the vector kernels: emptied, finished into the output, or
// merged from the partial states of one chunk's key ranges (flash-decoding's second pass).
#include <algorithm>
#include <cmath>

#include "backend/cpu/attention/attention_kernel.h"

namespace hearth::cpu {

AttnState attn_state_at(const AttnChunk& c, float* mem) {
  const size_t rows_pad = static_cast<size_t>(attn_rows_pad(c));
  return {mem, mem + rows_pad * c.head_dim, mem + rows_pad * (c.head_dim + 1)};
}

AttnState attn_state_begin(const AttnChunk& c, float* mem) {
  const size_t rows_pad = static_cast<size_t>(attn_rows_pad(c));
  const AttnState s = attn_state_at(c, mem);
  std::fill(s.o, s.m, 0.0f);
  std::fill(s.m, s.l, -INFINITY);
  std::fill(s.l, s.l + rows_pad, 0.0f);
  return s;
}

int attn_chunk_len(const AttnChunk& c) {
  int len = 0;
  for (int i = 0; i < c.n_tok; ++i) len = std::max(len, c.pos[i] + 1);
  return len;
}

namespace {

float* out_row(const AttnChunk& c, int r) {
  return c.out + (r / c.group) * c.q_stride + static_cast<size_t>(r % c.group) * c.head_dim;
}

}  // namespace

void attn_state_finish(const AttnChunk& c, const AttnState& s) {
  const int hd = c.head_dim;
  for (int r = 0; r < c.n_tok * c.group; ++r) {
    const float inv = 1.0f / s.l[r];
    const float* src = s.o + static_cast<size_t>(r) * hd;
    float* dst = out_row(c, r);
    for (int d = 0; d < hd; ++d) dst[d] = src[d] * inv;
  }
}

void attn_state_merge(const AttnChunk& c, const AttnState* parts, int n) {
  const int hd = c.head_dim;
  for (int r = 0; r < c.n_tok * c.group; ++r) {
    float m = -INFINITY;
    for (int i = 0; i < n; ++i) m = std::max(m, parts[i].m[r]);
    float* dst = out_row(c, r);
    std::fill(dst, dst + hd, 0.0f);
    float l = 0;
    for (int i = 0; i < n; ++i) {
      if (parts[i].l[r] == 0.0f) continue;  // the range lies past this row's causal end
      const float w = std::exp(parts[i].m[r] - m);
      l += parts[i].l[r] * w;
      const float* src = parts[i].o + static_cast<size_t>(r) * hd;
      for (int d = 0; d < hd; ++d) dst[d] += src[d] * w;
    }
    const float inv = 1.0f / l;
    for (int d = 0; d < hd; ++d) dst[d] *= inv;
  }
}

}  // namespace hearth::cpu
