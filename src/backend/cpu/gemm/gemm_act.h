#pragma once
// Activation layouts of the GEMM kernels. Tokens are grouped by `tile` (the kernel's widest tile);
// group g's data for k unit u (a quant block, or one element for floats) lies at
// act + (g * units + u) * unit_bytes, so a tile walks one contiguous stream and finds token c of
// the group at a fixed offset. Quantized activations are the bytes cpu::quantize_activation
// writes, regrouped, plus per-block terms the kernels fold in: the Q8_0 scale as a float and the
// offset correction of unsigned weights.
#include <cstddef>
#include <cstdint>

namespace hearth::gemm::detail {

// Q8_0 unit (32 elements): qs[tile][32], then meta[tile].
struct ActMetaQ8_0 {
  float d;
  int32_t corr;  // -offset * sum(qs): weights enter the dot product as q + offset, unsigned
};
inline constexpr size_t act_unit_bytes_q8_0(int tile) {
  return static_cast<size_t>(tile) * (32 + sizeof(ActMetaQ8_0));
}

// Q8_K unit (256 elements): qs[tile][256], then meta[tile].
struct ActMetaQ8_K {
  float d;
  // Q4_K: v[p] = s[2p] | s[2p + 1] << 16, s[j] the sum of qs over sub-block j (32 elements), an
  // int16 pair for vpdpwssd against the sub-block mins. Q6_K: v[g] = -32 * bsums[g]. Pairs16
  // (AVX2 Q6_K): v[p] = bsums[2p] | bsums[2p + 1] << 16, p < 8, for vpmaddwd against the scales.
  int32_t v[16];
};
inline constexpr size_t act_unit_bytes_q8_k(int tile) {
  return static_cast<size_t>(tile) * (256 + sizeof(ActMetaQ8_K));
}
enum class Q8KMeta { kQ4K, kQ6K, kPairs16 };

// tmp holds n quantized rows (n * dtype_row_bytes(Q8_0 or Q8_K, k) bytes); grouped output at act.
void pack_act_q8_0(const float* x, int64_t k, int n, int t0, int t1, uint8_t* act, int tile,
                   int offset, uint8_t* tmp);
void pack_act_q8_k(const float* x, int64_t k, int n, int t0, int t1, uint8_t* act, int tile,
                   Q8KMeta meta, uint8_t* tmp);
// Float unit (one element): x[tile] of the group's tokens.
void pack_act_f32(const float* x, int64_t k, int n, int t0, int t1, float* act, int tile);

}  // namespace hearth::gemm::detail
