#pragma once
// Whole rows in any format, on the host: the reference quantizer (the bytes llama.cpp's
// quantize_row_*_ref writes; see quantize_k.cpp for the K-quants) and the reference dequantizer.
// Deterministic, not fast: converters and tests use them; the CPU backend's SIMD kernels are
// checked against them.
//
// n is the number of elements and must be a multiple of the type's block size (row_fits_blocks);
// a type outside the enum throws hearth::Error.
#include <cstdint>

#include "quant/types.h"

namespace hearth::quant {

// src of type t -> n floats. Any DType, Q8_K included.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// n floats -> type t. F32 copies.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace hearth::quant
