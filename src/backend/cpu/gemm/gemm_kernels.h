#pragma once
// Internal to gemm/: the kernel tables of each SIMD level.
#include "backend/cpu/gemm/gemm.h"

namespace hearth::gemm::detail {

extern const GemmKernel kGemmF32Avx2;
extern const GemmKernel kGemmF16Avx2;
extern const GemmKernel kGemmBF16Avx2;

extern const GemmKernel kGemmQ4_0Avx2;
extern const GemmKernel kGemmQ8_0Avx2;
extern const GemmKernel kGemmQ4_KAvx2;
extern const GemmKernel kGemmQ6_KAvx2;

extern const GemmKernel kGemmF32Avx512;
extern const GemmKernel kGemmF16Avx512;
extern const GemmKernel kGemmBF16Avx512;

extern const GemmKernel kGemmQ4_0Avx512;
extern const GemmKernel kGemmQ4_KAvx512;
extern const GemmKernel kGemmQ6_KAvx512;

extern const GemmKernel kGemmQ4_0Vnni;
extern const GemmKernel kGemmQ8_0Vnni;
extern const GemmKernel kGemmQ4_KVnni;
extern const GemmKernel kGemmQ6_KVnni;

}  // namespace hearth::gemm::detail
