// Reference dequantization: the format definitions in blocks.h, one element at a time.
#include <cassert>
#include <cstring>

#include "backend/cpu/quant/blocks.h"
#include "backend/cpu/quant/quant.h"
#include "util/error.h"

namespace hearth::quant {
namespace {

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK0; ++b, y += kQK0) {
    const float d = f16_to_f32(x[b].d);
    for (int j = 0; j < kQK0; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK0; ++b, y += kQK0) {
    const float d = f16_to_f32(x[b].d);
    for (int j = 0; j < kQK0 / 2; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0xF) - 8) * d;
      y[j + kQK0 / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = x[b].qs + 32 * c;
      for (int half = 0; half < 2; ++half) {
        uint8_t sc, m;
        q4k_scale_min(2 * c + half, x[b].scales, &sc, &m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l)
          *y++ = d1 * static_cast<float>((q[l] >> (4 * half)) & 0xF) - m1;
      }
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, y += kQKK)
    for (int j = 0; j < kQKK; ++j) y[j] = x[b].d * static_cast<float>(x[b].qs[j]);
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  assert(n % dtype_info(t).block_size == 0);
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
      dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
      return;
    case DType::Q4_0:
      dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
      return;
    case DType::Q4_K:
      dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n);
      return;
    case DType::Q6_K:
      dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n);
      return;
    case DType::Q8_K:
      dequantize_q8_k(static_cast<const BlockQ8_K*>(src), dst, n);
      return;
  }
  throw Error("dequantize_row", std::string("unsupported type ") + dtype_name(t));
}

}  // namespace hearth::quant
