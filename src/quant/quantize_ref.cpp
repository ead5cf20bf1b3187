// Reference quantizers of the simple formats: the float operations, their order and the rounding
// mode of each are those of ggml's quantize_row_{q8_0,q4_0,q8_K}_ref, so the bytes match.
#include <cassert>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/reference.h"

namespace hearth::quant::detail {
namespace {

// Float -> int for values known to lie in [lo, hi] when the input is finite; NaN and infinities
// (garbage in) map to lo instead of being undefined behaviour.
inline int clamp_to_int(float v, int lo, int hi) {
  if (!(v >= static_cast<float>(lo))) return lo;
  if (v > static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

}  // namespace

void quantize_q8_0_ref(const float* x, void* dst, int64_t n) {
  assert(n % kQK0 == 0);
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK0; ++b, x += kQK0) {
    float amax = 0.0f;
    for (int j = 0; j < kQK0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    // roundf: halves away from zero (ggml's choice for the reference Q8_0).
    for (int j = 0; j < kQK0; ++j)
      y[b].qs[j] = static_cast<int8_t>(clamp_to_int(std::round(x[j] * id), -128, 127));
  }
}

void quantize_q4_0_ref(const float* x, void* dst, int64_t n) {
  assert(n % kQK0 == 0);
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < n / kQK0; ++b, x += kQK0) {
    // The signed value of largest magnitude (first one on ties) maps to -8, so the full range
    // -8..7 is used on the side of the extreme value.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK0 / 2; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[j + kQK0 / 2] * id;
      // +8.5 then truncation: round half up into 0..16, 16 clamped to 15.
      const int q0 = clamp_to_int(x0 + 8.5f, 0, 15);
      const int q1 = clamp_to_int(x1 + 8.5f, 0, 15);
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_q8_k_ref(const float* x, void* dst, int64_t n) {
  assert(n % kQKK == 0);
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      // ggml leaves bsums unwritten here; zero is what they would sum to.
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQKK; ++j) {
      int v = nearest_int(iscale * x[j]);
      y[b].qs[j] = static_cast<int8_t>(v < 127 ? (v > -128 ? v : -128) : 127);
    }
    for (int g = 0; g < kQKK / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[16 * g + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace hearth::quant::detail
