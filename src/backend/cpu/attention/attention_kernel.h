#pragma once
// One unit of attention work: a run of consecutive batch tokens of one sequence against one KV
// head. Its query rows are (token i, head g of the KV head's group); grouping the query heads that
// share a KV head lets every key and value row loaded from the cache serve all of them.
#include <xmmintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth::cpu {

struct AttnChunk {
  const float* q = nullptr;  // row (i, g) at q + i * q_stride + g * head_dim
  float* out = nullptr;      // same layout as q
  size_t q_stride = 0;
  int n_tok = 0, group = 1, head_dim = 0;
  const int32_t* pos = nullptr;  // token i attends to key positions 0..pos[i]
  const void* k = nullptr;       // this KV head's row in cache slot 0
  const void* v = nullptr;
  bool f16 = false;                // cache elements: f16 halves, else float32
  size_t kv_stride = 0;            // elements from one slot to the next
  const int32_t* table = nullptr;  // the sequence's block table
  int block_size = 16;
  float scale = 1.0f;

  const void* key(int j) const { return row(k, j); }
  const void* value(int j) const { return row(v, j); }
  const void* row(const void* base, int j) const {
    return static_cast<const char*>(base) + slot(j) * kv_stride * elem_bytes();
  }
  size_t elem_bytes() const { return f16 ? 2 : 4; }
  int rows() const { return n_tok * group; }
  // The keys below j_hi that query row r (token r / group, head r % group of the group)
  // attends to; 0 for a padding row past rows().
  int row_len(int r, int j_hi) const { return r < rows() ? std::min(pos[r / group] + 1, j_hi) : 0; }
  // Query row r, or `pad` (head_dim zeros) for a padding row.
  const float* q_row(int r, const float* pad) const {
    return r < rows() ? q + (r / group) * q_stride + static_cast<size_t>(r % group) * head_dim
                      : pad;
  }
  // Whether any of the n rows from r0 attends to key j0 (below j_hi).
  bool rows_reach(int r0, int n, int j0, int j_hi) const {
    for (int x = 0; x < n; ++x)
      if (row_len(r0 + x, j_hi) > j0) return true;
    return false;
  }
  // The K and V rows of a step's keys j0 .. j0 + K - 1, of which nk are real: the rest repeat
  // the last one (any readable row does; their lanes are masked).
  template <int K>
  void step_rows(int j0, int nk, const void* (&krow)[K], const void* (&vrow)[K]) const {
    for (int i = 0; i < K; ++i) {
      const int j = j0 + std::min(i, nk - 1);
      krow[i] = key(j);
      vrow[i] = value(j);
    }
  }
  // Key j's K and V rows (row_bytes each: head_dim elements) into L2. Each is a short run (one
  // head's slice) at the stride of a whole slot, which the hardware prefetchers do not follow
  // well. Always inlined, so a kernel's compile-time row_bytes unrolls the loop, and because GCC
  // 12 finds a function of prefetches alone free of side effects and drops the calls to it.
  [[gnu::always_inline]] void prefetch_key(int j, size_t row_bytes) const {
    const char* kp = static_cast<const char*>(key(j));
    const char* vp = static_cast<const char*>(value(j));
    for (size_t b = 0; b < row_bytes; b += 64) {
      _mm_prefetch(kp + b, _MM_HINT_T1);
      _mm_prefetch(vp + b, _MM_HINT_T1);
    }
  }
  size_t slot(int j) const {
    return static_cast<size_t>(table[j / block_size]) * block_size + j % block_size;
  }
};

// The online-softmax state of a chunk's rows (tokens x group, padded to kAttnRowPad): unnormalised
// output sums, the running maximum and the running sum of exponentials. A chunk's keys can be
// added in several ranges, into one state or into separate states merged at the end.
constexpr int kAttnRowPad = 4;
struct AttnState {
  float* o = nullptr;  // [rows_pad][head_dim]
  float* m = nullptr;  // [rows_pad]
  float* l = nullptr;  // [rows_pad]
};
inline int attn_rows_pad(const AttnChunk& c) {
  return (c.n_tok * c.group + kAttnRowPad - 1) / kAttnRowPad * kAttnRowPad;
}
inline size_t attn_state_floats(const AttnChunk& c) {
  return static_cast<size_t>(attn_rows_pad(c)) * (c.head_dim + 2);
}
// The state laid out in `mem` (attn_state_floats of it), as it is.
AttnState attn_state_at(const AttnChunk& c, float* mem);
// The same, emptied.
AttnState attn_state_begin(const AttnChunk& c, float* mem);
// c.out = o / l for every row.
void attn_state_finish(const AttnChunk& c, const AttnState& s);
// c.out from n states of the same chunk over disjoint key ranges (rescaled to a common maximum).
void attn_state_merge(const AttnChunk& c, const AttnState* parts, int n);
// The last key position (exclusive) any row of the chunk attends to.
int attn_chunk_len(const AttnChunk& c);

// Scratch the vector kernels need beside the state: transposed keys, probabilities, a zero row.
inline size_t attend_work_floats(const AttnChunk& c) {
  return static_cast<size_t>(c.head_dim) * 16 + kAttnRowPad * 16 + c.head_dim;
}
// Adds keys [j_lo, j_hi) to the state, each row masked to its causal length. j_lo is a multiple of
// 16. AVX-512 F: 16 keys at a time; needs head_dim % 16 == 0.
void attend_keys_avx512(const AttnChunk& c, int j_lo, int j_hi, const AttnState& s, float* work);
// AVX2 + FMA + F16C: 8 keys at a time, the same scheme; needs head_dim % 8 == 0.
void attend_keys_avx2(const AttnChunk& c, int j_lo, int j_hi, const AttnState& s, float* work);

// The same for chunks of few rows (decode), scores as dot products; for head_dim 64 and 128 only.
bool attend_keys_dot_avx512_supports(int head_dim);
void attend_keys_dot_avx512(const AttnChunk& c, int j_lo, int j_hi, const AttnState& s,
                            float* work);
bool attend_keys_dot_avx2_supports(int head_dim);
void attend_keys_dot_avx2(const AttnChunk& c, int j_lo, int j_hi, const AttnState& s, float* work);

// The plain two-pass softmax, for any head_dim: the reference the vector kernels are tested
// against.
void attend_chunk_scalar(const AttnChunk& c, std::vector<float>& scratch);

}  // namespace hearth::cpu
