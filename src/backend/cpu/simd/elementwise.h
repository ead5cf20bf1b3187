#pragma once
// Vector forms of the model's elementwise ops, for AVX-512 and AVX2 CPUs; the scalar loops in
// cpu_backend.cpp remain the fallback and the reference.
#include <cstddef>
#include <cstdint>

namespace hearth::cpu::simd {

// out[i] = silu(gate[i]) * up[i]
void swiglu_avx512(const float* gate, const float* up, size_t count, float* out);
// Rounds to f16 (nearest, ties to even), as quant/half.h's f32_to_f16 does.
void f32_to_f16_avx512(const float* src, uint16_t* dst, size_t count);
// The same with AVX2 + FMA (+ F16C for the conversion).
void swiglu_avx2(const float* gate, const float* up, size_t count, float* out);
void f32_to_f16_avx2(const float* src, uint16_t* dst, size_t count);

}  // namespace hearth::cpu::simd
