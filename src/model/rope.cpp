#include "model/rope.h"

#include <cmath>

namespace hearth {

std::vector<float> rope_inv_freq(const ModelConfig& cfg, const std::vector<float>& freq_factors) {
  const int64_t dim = cfg.head_dim;
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i)
    inv[i] = static_cast<float>(1.0 / std::pow(cfg.rope_theta, static_cast<double>(2 * i) / dim));
  if (!freq_factors.empty()) {
    for (size_t i = 0; i < inv.size(); ++i) inv[i] /= freq_factors[i];
    return inv;
  }
  if (cfg.rope_scaling == RopeScaling::Linear) {
    for (auto& f : inv) f = static_cast<float>(f / cfg.rope_factor);
  } else if (cfg.rope_scaling == RopeScaling::Llama3) {
    // Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
    const double old_ctx = static_cast<double>(cfg.rope_original_max_position);
    const double low_wavelen = old_ctx / cfg.rope_low_freq_factor;
    const double high_wavelen = old_ctx / cfg.rope_high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / cfg.rope_factor);
      } else {
        const double smooth = (old_ctx / wavelen - cfg.rope_low_freq_factor) /
                              (cfg.rope_high_freq_factor - cfg.rope_low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / cfg.rope_factor + smooth * f);
      }
    }
  }
  return inv;
}

}  // namespace hearth
