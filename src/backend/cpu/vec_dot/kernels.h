#pragma once
// Internal to vec_dot/: the kernel table of each SIMD level.
#include <cstdint>

#include "backend/cpu/vec_dot/vec_dot.h"

namespace hearth::cpu::detail {

using QuantizeFn = void (*)(const float* x, void* dst, int64_t n);

struct KernelSet {
  VecDotFn q4_0_q8_0;
  VecDotFn q8_0_q8_0;
  VecDotFn q4_k_q8_k;
  VecDotFn q6_k_q8_k;
  VecDotFn f32_f32;
  VecDotFn f16_f32;
  VecDotFn bf16_f32;
  QuantizeFn quantize_q8_0;  // activation quantizers, same bytes as the reference
  QuantizeFn quantize_q8_k;
};

// Each level's table; a level without its own kernel for a slot reuses a lower level's.
extern const KernelSet kScalarKernels;
extern const KernelSet kAvx2Kernels;
extern const KernelSet kAvx512Kernels;
extern const KernelSet kAvx512VnniKernels;

}  // namespace hearth::cpu::detail
