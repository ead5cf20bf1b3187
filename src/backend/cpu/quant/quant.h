#pragma once
// Quantized weight formats on the CPU: reference (de)quantization, bit-exact to GGUF/ggml, and the
// dot products the decode matmul is made of. A weight row of type W is dotted with an activation
// row quantized once to vec_dot_type(W) and reused for every row of the matrix.
//
// n is the number of elements and must be a multiple of the type's block size (callers check;
// kernels only assert in debug builds). Buffers must be aligned to the block's alignment: 4 bytes
// for Q8_K and F32, 2 for the others (GGUF tensor data always is).
#include <cstdint>

#include "backend/cpu/cpu_features.h"
#include "format/dtype.h"

namespace hearth::quant {

// src of type t -> n floats. Any DType, Q8_K included.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// The reference quantizer: the bytes llama.cpp's quantize_row_*_ref writes (see the notes in
// quantize_k.cpp for the K-quants). F32 copies. Deterministic, not fast.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

// The activation format a weight row is dotted with: Q8_0 for Q4_0/Q8_0, Q8_K for Q4_K/Q6_K,
// F32 for F32/F16/BF16.
DType vec_dot_type(DType weight);

// Quantizes an activation row to dot_type (one of vec_dot_type's answers), SIMD where available.
// Writes the same bytes as quantize_row.
void quantize_activation(DType dot_type, const float* x, void* dst, int64_t n);

// sum_i w[i] * x[i], w a row of type `weight`, x a row of vec_dot_type(weight).
using VecDotFn = float (*)(const void* w, const void* x, int64_t n);
// The kernel for the current cpu::simd_level(); hoist it out of row loops.
VecDotFn vec_dot_fn(DType weight);
// The kernel of a given level (tests, benchmarks); throws hearth::Error if the CPU lacks it.
VecDotFn vec_dot_fn(DType weight, cpu::SimdLevel level);
float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n);

}  // namespace hearth::quant
