#pragma once
// The per-sequence logit edits applied between the forward pass and the sampler.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "runtime/request.h"

namespace hearth {

// Bias, penalties and the constraint, in that order, on one row of logits (edited in place).
void process_logits(float* logits, int64_t vocab, const GenerationParams& p,
                    std::span<const int32_t> prompt, std::span<const int32_t> generated);

// log-softmax of the raw logits: the chosen token's logprob and the n most likely alternatives.
void compute_logprobs(const float* raw, int64_t vocab, int32_t chosen, int n, TokenEvent& ev);

}  // namespace hearth
