// Portable dot products: the reference the SIMD kernels are tested against, and the fallback on
// CPUs without AVX2. Integer sums per block are exact; each block adds int_sum * scales in float.
#include <cassert>
#include <cstring>

#include "backend/cpu/vec_dot/kernels.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

namespace hearth::cpu::detail {
using namespace hearth::quant;
namespace {

float dot_q4_0_q8_0(const void* w, const void* a, int64_t n) {
  assert(n % kQK0 == 0);
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK0; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK0 / 2; ++j) {
      sumi += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
      sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + kQK0 / 2];
    }
    sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

float dot_q8_0_q8_0(const void* w, const void* a, int64_t n) {
  assert(n % kQK0 == 0);
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK0; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK0; ++j) sumi += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

float dot_q4_k_q8_k(const void* w, const void* a, int64_t n) {
  assert(n % kQKK == 0);
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    uint8_t sm[16];
    const Q4KScales packed = q4k_unpack_scales(x[b].scales);
    std::memcpy(sm, &packed.sc, 8);
    std::memcpy(sm + 8, &packed.m, 8);
    int sumi = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      const int8_t* ys = y[b].qs + 32 * j;
      int dot = 0;
      for (int l = 0; l < 32; ++l) dot += ((q[l] >> shift) & 0xF) * ys[l];
      sumi += sm[j] * dot;
    }
    // The mins: sum_j m[j] * sum(y over sub-block j), from the precomputed 16-element sums.
    int summ = 0;
    for (int j = 0; j < 8; ++j) summ += sm[8 + j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    const float d = y[b].d * f16_to_f32(x[b].d);
    const float dmin = y[b].d * f16_to_f32(x[b].dmin);
    sum += d * static_cast<float>(sumi) - dmin * static_cast<float>(summ);
  }
  return sum;
}

float dot_q6_k_q8_k(const void* w, const void* a, int64_t n) {
  assert(n % kQKK == 0);
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int8_t q[kQKK];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      int8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        qq[l] = static_cast<int8_t>(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
        qq[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        qq[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        qq[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += q[16 * g + l] * y[b].qs[16 * g + l];
      sumi += x[b].scales[g] * dot;
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(sumi);
  }
  return sum;
}

float dot_f32(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

float dot_f16(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += f16_to_f32(x[i]) * y[i];
  return sum;
}

float dot_bf16(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_f32(x[i]) * y[i];
  return sum;
}

// The reference quantizers are the portable activation quantizers.
void quantize_q8_0(const float* x, void* dst, int64_t n) {
  quantize_row(DType::Q8_0, x, dst, n);
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  quantize_row(DType::Q8_K, x, dst, n);
}

}  // namespace

const KernelSet kScalarKernels = {
    dot_q4_0_q8_0, dot_q8_0_q8_0, dot_q4_k_q8_k, dot_q6_k_q8_k, dot_f32,
    dot_f16,       dot_bf16,      quantize_q8_0, quantize_q8_k,
};

}  // namespace hearth::cpu::detail
