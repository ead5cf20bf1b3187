#pragma once
// The CPU's quantized dot products, which the decode matmul is made of. A weight row of type W is
// dotted with an activation row quantized once to vec_dot_type(W) and reused for every row of the
// matrix. The formats themselves and their reference (de)quantizers are the quant library's
// (src/quant); the kernels here are checked against them.
//
// n is the number of elements and must be a multiple of the type's block size (callers check;
// kernels only assert in debug builds). Buffers must be aligned to the block's alignment: 4 bytes
// for Q8_K and F32, 2 for the others (GGUF tensor data always is).
#include <cstdint>

#include "backend/cpu/cpu_features.h"
#include "quant/types.h"

namespace hearth::cpu {

// The activation format a weight row is dotted with: Q8_0 for Q4_0/Q8_0, Q8_K for Q4_K/Q6_K,
// F32 for F32/F16/BF16.
DType vec_dot_type(DType weight);

// Quantizes an activation row to dot_type (one of vec_dot_type's answers), SIMD where available.
// Writes the same bytes as quant::quantize_row.
void quantize_activation(DType dot_type, const float* x, void* dst, int64_t n);

// sum_i w[i] * x[i], w a row of type `weight`, x a row of vec_dot_type(weight).
using VecDotFn = float (*)(const void* w, const void* x, int64_t n);
// The kernel for the current simd_level(); hoist it out of row loops.
VecDotFn vec_dot_fn(DType weight);
// The kernel of a given level (tests, benchmarks); throws hearth::Error if the CPU lacks it.
VecDotFn vec_dot_fn(DType weight, SimdLevel level);
float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n);

}  // namespace hearth::cpu
