#pragma once
// One unit of attention work: a run of consecutive batch tokens of one sequence against one KV
// head. Its query rows are (token i, head g of the KV head's group); grouping the query heads that
// share a KV head lets every key and value row loaded from the cache serve all of them.
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
  size_t slot(int j) const {
    return static_cast<size_t>(table[j / block_size]) * block_size + j % block_size;
  }
};

// The plain two-pass softmax, for any head_dim: the reference the vector kernel is tested against.
void attend_chunk_scalar(const AttnChunk& c, std::vector<float>& scratch);
// AVX-512 F: 16 keys at a time with online softmax. Needs head_dim % 16 == 0.
void attend_chunk_avx512(const AttnChunk& c, std::vector<float>& scratch);
// AVX2 + FMA + F16C: 8 keys at a time, the same scheme. Needs head_dim % 8 == 0.
void attend_chunk_avx2(const AttnChunk& c, std::vector<float>& scratch);

}  // namespace hearth::cpu
