// Activation packing for the GEMM kernels: quantize each token row with the vec_dot quantizer,
// then scatter its blocks into the token-group layout described in gemm_act.h.
#include "backend/cpu/gemm/gemm_act.h"

#include <cstring>

#include "backend/cpu/vec_dot/vec_dot.h"
#include "format/dtype.h"
#include "quant/blocks.h"
#include "quant/half.h"

namespace hearth::gemm::detail {

void pack_act_q8_0(const float* x, int64_t k, int n, int t0, int t1, uint8_t* act, int tile,
                   int offset, uint8_t* tmp) {
  (void)n;
  const int64_t nb = k / quant::kQK0;
  const size_t row_bytes = dtype_row_bytes(DType::Q8_0, k);
  const size_t unit = act_unit_bytes_q8_0(tile);
  for (int t = t0; t < t1; ++t) {
    auto* row = reinterpret_cast<quant::BlockQ8_0*>(tmp + static_cast<size_t>(t) * row_bytes);
    cpu::quantize_activation(DType::Q8_0, x + static_cast<int64_t>(t) * k, row, k);
    const int g = t / tile, c = t % tile;
    uint8_t* rec = act + static_cast<size_t>(static_cast<int64_t>(g) * nb) * unit;
    for (int64_t b = 0; b < nb; ++b, rec += unit) {
      std::memcpy(rec + 32 * c, row[b].qs, 32);
      int sum = 0;
      for (int8_t q : row[b].qs) sum += q;
      const ActMetaQ8_0 m{f16_to_f32(row[b].d), -offset * sum};
      std::memcpy(rec + 32 * tile + sizeof(ActMetaQ8_0) * static_cast<size_t>(c), &m, sizeof m);
    }
  }
}

void pack_act_q8_k(const float* x, int64_t k, int n, int t0, int t1, uint8_t* act, int tile,
                   Q8KMeta meta, uint8_t* tmp) {
  (void)n;
  const int64_t nb = k / quant::kQKK;
  const size_t row_bytes = dtype_row_bytes(DType::Q8_K, k);
  const size_t unit = act_unit_bytes_q8_k(tile);
  for (int t = t0; t < t1; ++t) {
    auto* row = reinterpret_cast<quant::BlockQ8_K*>(tmp + static_cast<size_t>(t) * row_bytes);
    cpu::quantize_activation(DType::Q8_K, x + static_cast<int64_t>(t) * k, row, k);
    const int g = t / tile, c = t % tile;
    uint8_t* rec = act + static_cast<size_t>(static_cast<int64_t>(g) * nb) * unit;
    for (int64_t b = 0; b < nb; ++b, rec += unit) {
      std::memcpy(rec + 256 * c, row[b].qs, 256);
      ActMetaQ8_K m{};
      m.d = row[b].d;
      if (meta == Q8KMeta::kQ4K) {
        for (int p = 0; p < 4; ++p) {
          const int s0 = row[b].bsums[4 * p] + row[b].bsums[4 * p + 1];
          const int s1 = row[b].bsums[4 * p + 2] + row[b].bsums[4 * p + 3];
          m.v[p] = static_cast<int32_t>((static_cast<uint32_t>(s0) & 0xFFFFu) |
                                        (static_cast<uint32_t>(s1) << 16));
        }
      } else if (meta == Q8KMeta::kQ6K) {
        for (int gi = 0; gi < 16; ++gi) m.v[gi] = -32 * row[b].bsums[gi];
      } else {
        for (int p = 0; p < 8; ++p)
          m.v[p] = static_cast<int32_t>((static_cast<uint32_t>(row[b].bsums[2 * p]) & 0xFFFFu) |
                                        (static_cast<uint32_t>(row[b].bsums[2 * p + 1]) << 16));
      }
      std::memcpy(rec + 256 * tile + sizeof(ActMetaQ8_K) * static_cast<size_t>(c), &m, sizeof m);
    }
  }
}

void pack_act_f32(const float* x, int64_t k, int n, int t0, int t1, float* act, int tile) {
  (void)n;
  for (int t = t0; t < t1; ++t) {
    const int g = t / tile, c = t % tile;
    const float* xr = x + static_cast<int64_t>(t) * k;
    float* dst = act + static_cast<int64_t>(g) * k * tile + c;
    for (int64_t i = 0; i < k; ++i) dst[i * tile] = xr[i];
  }
}

}  // namespace hearth::gemm::detail
