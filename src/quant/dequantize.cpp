// Reference dequantization of whole rows: the block decoders of dequantize_block.h in a loop.
#include <cassert>
#include <cstring>
#include <string>

#include "quant/dequantize_block.h"
#include "quant/quantize.h"
#include "util/error.h"

namespace hearth::quant {
namespace {

template <class Block>
void dequantize_blocks(const void* src, float* y, int64_t n, int block_elems) {
  const auto* x = static_cast<const Block*>(src);
  for (int64_t b = 0; b < n / block_elems; ++b) dequantize_block(x[b], y + b * block_elems);
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  assert(row_fits_blocks(t, n));
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
      return;
    }
    case DType::Q8_0:
      return dequantize_blocks<BlockQ8_0>(src, dst, n, kQK0);
    case DType::Q4_0:
      return dequantize_blocks<BlockQ4_0>(src, dst, n, kQK0);
    case DType::Q4_K:
      return dequantize_blocks<BlockQ4_K>(src, dst, n, kQKK);
    case DType::Q6_K:
      return dequantize_blocks<BlockQ6_K>(src, dst, n, kQKK);
    case DType::Q8_K:
      return dequantize_blocks<BlockQ8_K>(src, dst, n, kQKK);
  }
  throw Error("dequantize_row", std::string("unsupported type ") + dtype_name(t));
}

}  // namespace hearth::quant
