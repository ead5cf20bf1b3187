#pragma once
// RoPE inverse frequencies per rotated pair, with Llama 3's frequency-dependent scaling.
#include <vector>

#include "format/model_config.h"

namespace hearth {

// freq_factors (GGUF rope_freqs.weight) when given replace the llama3 formula: the converter
// stored its result, and dividing by them is what llama.cpp does.
std::vector<float> rope_inv_freq(const ModelConfig& cfg, const std::vector<float>& freq_factors);

}  // namespace hearth
