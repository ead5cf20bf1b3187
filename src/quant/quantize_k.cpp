// Reference quantizers of the K-quants, following ggml's quantize_row_{q4_K,q6_K}_ref (what
// llama-quantize uses without an importance matrix): the same search heuristics, the same float
// operations in the same order, the same rounding (nearest_int is round-half-even).
//
// Where the bytes can differ from a given llama.cpp build: this file is compiled as ISO C++, so the
// compiler never fuses a*b+c into an FMA. A ggml built with -march=native on an FMA machine is
// compiled as GNU C with -ffp-contract=fast and may fuse the accumulations in the scale searches,
// which moves a sum by an ulp and, in rare near-ties, picks another scale or rounds one quant the
// other way. Against a ggml built without FMA contraction the bytes are identical. ggml versions
// before 2024 treated "all zero" as exactly 0 rather than below 1e-15 (GROUP_MAX_EPS); that only
// matters for blocks whose largest magnitude lies in (0, 1e-15).
#include <cassert>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/reference.h"

namespace hearth::quant::detail {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Fits x[i] ~ scale * L[i] - min (L in 0..nmax, min >= 0) minimising the weighted squared error:
// starts from the min/max grid, then tries nstep + 1 stretched grids, each refined by a weighted
// least-squares solve for scale and min. Returns scale, stores min in *the_min.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min,
                    float rmin, float rdelta, int nstep) {
  uint8_t laux[32];
  assert(n <= 32);
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(l < 0 ? 0 : (l > nmax ? nmax : l));
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = diff * diff;
    best_error += w[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + fnmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = l < 0 ? 0 : (l > nmax ? nmax : l);
      laux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(laux[i]) + this_min - x[i];
        diff = diff * diff;
        cur_error += w[i] * diff;
      }
      if (cur_error < best_error) {
        std::memcpy(L, laux, static_cast<size_t>(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Symmetric fit x[i] ~ scale * (L[i] - nmax), L in 0..2*nmax-1, weights x^2: starts from the grid
// that maps the largest magnitude to -nmax, then tries 18 stretched grids and keeps the one with
// the best weighted least-squares fit.
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  auto quant = [&](float iscale, int i) {
    int l = nearest_int(iscale * x[i]);
    return l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l);
  };
  float iscale = -fnmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = quant(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fnmax + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = quant(iscale, i);
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(l);
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(quant(iscale, i) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace

void quantize_q4_k_ref(const float* x, void* dst, int64_t n) {
  assert(n % kQKK == 0);
  auto* y = static_cast<BlockQ4_K*>(dst);
  uint8_t L[kQKK];
  float weights[32], mins[8], scales[8];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ4_K& blk = y[b];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
      scales[j] = fit_scale_min(32, 15, xs, weights, L + 32 * j, &mins[j], -1.0f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    std::memset(blk.scales, 0, sizeof(blk.scales));
    for (int j = 0; j < 8; ++j) {
      // Truncation to 8 bits before the clamp, as ggml stores nearest_int into a uint8_t.
      uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
      uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
      if (ls > 63) ls = 63;
      if (lm > 63) lm = 63;
      if (j < 4) {
        blk.scales[j] = ls;
        blk.scales[j + 4] = lm;
      } else {
        blk.scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        blk.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        blk.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    blk.d = f32_to_f16(max_scale / 63.0f);
    blk.dmin = f32_to_f16(max_min / 63.0f);
    // Requantize against the scales as stored (6-bit, f16), so the quants fit what is decoded.
    const float d_all = f16_to_f32(blk.d), dmin_all = f16_to_f32(blk.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      q4k_scale_min(j, blk.scales, &sc, &m);
      const float d = d_all * static_cast<float>(sc);
      if (d == 0.0f) continue;
      const float dm = dmin_all * static_cast<float>(m);
      for (int i = 0; i < 32; ++i) {
        int l = nearest_int((x[32 * j + i] + dm) / d);
        L[32 * j + i] = static_cast<uint8_t>(l < 0 ? 0 : (l > 15 ? 15 : l));
      }
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        blk.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
  }
}

void quantize_q6_k_ref(const float* x, void* dst, int64_t n) {
  assert(n % kQKK == 0);
  auto* y = static_cast<BlockQ6_K*>(dst);
  int8_t L[kQKK];
  float scales[16];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ6_K& blk = y[b];
    float max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_scale_symmetric(16, 32, x + 16 * g, L + 16 * g);
      const float abs_scale = std::fabs(scales[g]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[g];
      }
    }
    std::memset(&blk, 0, sizeof(blk));
    if (max_abs_scale < kGroupMaxEps) continue;  // all zero: d = 0
    const float iscale = -128.0f / max_scale;
    blk.d = f32_to_f16(1 / iscale);
    for (int g = 0; g < 16; ++g) {
      const int s = nearest_int(iscale * scales[g]);
      blk.scales[g] = static_cast<int8_t>(s < 127 ? (s > -128 ? s : -128) : 127);
    }
    const float d_all = f16_to_f32(blk.d);
    for (int g = 0; g < 16; ++g) {
      const float d = d_all * static_cast<float>(blk.scales[g]);
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        int l = nearest_int(x[16 * g + i] / d);
        l = l < -32 ? -32 : (l > 31 ? 31 : l);
        L[16 * g + i] = static_cast<int8_t>(l + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      uint8_t* ql = blk.ql + 64 * h;
      uint8_t* qh = blk.qh + 32 * h;
      const int8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                     ((q4 >> 4) << 6));
      }
    }
  }
}

}  // namespace hearth::quant::detail
