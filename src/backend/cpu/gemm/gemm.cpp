// Which GEMM kernel serves a weight type at a SIMD level. Levels below AVX-512 have none: the
// caller keeps the vec_dot loop there.
#include "backend/cpu/gemm/gemm.h"

#include <string>

#include "backend/cpu/gemm/gemm_kernels.h"
#include "util/error.h"

namespace hearth::gemm {

const GemmKernel* gemm_kernel(DType weight, cpu::SimdLevel level) {
  if (level > cpu::best_simd_level())
    throw Error("gemm", std::string(cpu::simd_level_name(level)) + " is not supported by this CPU");
  using cpu::SimdLevel;
  if (level < SimdLevel::kAvx512) return nullptr;
  const bool vnni = level >= SimdLevel::kAvx512Vnni;
  switch (weight) {
    case DType::F32:
      return &detail::kGemmF32Avx512;
    case DType::F16:
      return &detail::kGemmF16Avx512;
    case DType::BF16:
      return &detail::kGemmBF16Avx512;
    case DType::Q4_0:
      return vnni ? &detail::kGemmQ4_0Vnni : &detail::kGemmQ4_0Avx512;
    case DType::Q8_0:
      // Q8_0 weights biased to unsigned reach 255: their products overflow vpmaddubsw's int16.
      return vnni ? &detail::kGemmQ8_0Vnni : nullptr;
    case DType::Q4_K:
      return vnni ? &detail::kGemmQ4_KVnni : &detail::kGemmQ4_KAvx512;
    case DType::Q6_K:
      return vnni ? &detail::kGemmQ6_KVnni : &detail::kGemmQ6_KAvx512;
    case DType::Q8_K:
      break;
  }
  return nullptr;
}

const GemmKernel* gemm_kernel(DType weight) {
  return gemm_kernel(weight, cpu::simd_level());
}

}  // namespace hearth::gemm
