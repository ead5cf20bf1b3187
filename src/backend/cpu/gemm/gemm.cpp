// Which GEMM kernel serves a weight type at a SIMD level. The scalar level has none: the caller
// keeps the vec_dot loop there.
#include "backend/cpu/gemm/gemm.h"

#include <string>

#include "backend/cpu/gemm/gemm_kernels.h"
#include "util/error.h"

namespace hearth::gemm {
namespace {

const GemmKernel* avx2_kernel(DType weight) {
  switch (weight) {
    case DType::F32:
      return &detail::kGemmF32Avx2;
    case DType::F16:
      return &detail::kGemmF16Avx2;
    case DType::BF16:
      return &detail::kGemmBF16Avx2;
    case DType::Q4_0:
      return &detail::kGemmQ4_0Avx2;
    case DType::Q8_0:
      return &detail::kGemmQ8_0Avx2;
    case DType::Q4_K:
      return &detail::kGemmQ4_KAvx2;
    case DType::Q6_K:
      return &detail::kGemmQ6_KAvx2;
    case DType::Q8_K:
      break;
  }
  return nullptr;
}

}  // namespace

const GemmKernel* gemm_kernel(DType weight, cpu::SimdLevel level) {
  if (level > cpu::best_simd_level())
    throw Error("gemm", std::string(cpu::simd_level_name(level)) + " is not supported by this CPU");
  using cpu::SimdLevel;
  if (level < SimdLevel::kAvx2) return nullptr;
  if (level == SimdLevel::kAvx2) return avx2_kernel(weight);
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
