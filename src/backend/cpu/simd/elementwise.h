#pragma once
// Vector forms of the model's elementwise ops, for AVX-512 CPUs; the scalar loops in
// cpu_backend.cpp remain the fallback and the reference.
#include <cstddef>

namespace hearth::cpu::simd {

// out[i] = silu(gate[i]) * up[i]
void swiglu_avx512(const float* gate, const float* up, size_t count, float* out);

}  // namespace hearth::cpu::simd
