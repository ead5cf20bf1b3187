// The reference quantizer by type: the per-format routines of quantize_ref.cpp and
// quantize_k.cpp, and the plain float conversions.
#include "quant/quantize.h"

#include <cassert>
#include <cstring>
#include <string>

#include "quant/half.h"
#include "quant/reference.h"
#include "util/error.h"

namespace hearth::quant {

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  assert(row_fits_blocks(t, n));
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0:
      detail::quantize_q8_0_ref(src, dst, n);
      return;
    case DType::Q4_0:
      detail::quantize_q4_0_ref(src, dst, n);
      return;
    case DType::Q4_K:
      detail::quantize_q4_k_ref(src, dst, n);
      return;
    case DType::Q6_K:
      detail::quantize_q6_k_ref(src, dst, n);
      return;
    case DType::Q8_K:
      detail::quantize_q8_k_ref(src, dst, n);
      return;
  }
  throw Error("quantize_row", std::string("unsupported type ") + dtype_name(t));
}

}  // namespace hearth::quant
