#pragma once
// Internal to src/quant: the reference quantizer of each format (quantize_ref.cpp for the simple
// formats, quantize_k.cpp for the K-quants); quantize_row picks one by type.
#include <cstdint>

namespace hearth::quant::detail {

void quantize_q8_0_ref(const float* x, void* dst, int64_t n);
void quantize_q4_0_ref(const float* x, void* dst, int64_t n);
void quantize_q8_k_ref(const float* x, void* dst, int64_t n);
void quantize_q4_k_ref(const float* x, void* dst, int64_t n);
void quantize_q6_k_ref(const float* x, void* dst, int64_t n);

}  // namespace hearth::quant::detail
