#pragma once
// Which SIMD instruction sets this CPU offers, and which level the kernels dispatch to.
// The library is compiled for baseline x86-64; faster kernels are chosen at run time so one binary
// runs everywhere. HEARTH_SIMD=scalar|avx2|avx512|avx512vnni pins a lower level (for comparisons).
#include <optional>
#include <string_view>

namespace hearth::cpu {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx_vnni = false;  // the VEX (256-bit) form; reported only, no kernel uses it yet
};

// Ordered: each level implies the ones below it.
enum class SimdLevel : int {
  kScalar = 0,
  kAvx2 = 1,        // AVX2 + FMA + F16C
  kAvx512 = 2,      // AVX-512 F/BW/VL/DQ (+ the AVX2 set)
  kAvx512Vnni = 3,  // kAvx512 + AVX-512 VNNI
};
inline constexpr int kNumSimdLevels = 4;

// Detected once (cpuid + xgetbv: the OS must also save the wide registers).
const CpuFeatures& cpu_features();
// The best level this CPU and OS support.
SimdLevel best_simd_level();
// The level kernels use now: set_simd_level's, else HEARTH_SIMD's, else best_simd_level().
// Throws hearth::Error on a HEARTH_SIMD value that is unknown or beyond this CPU.
SimdLevel simd_level();
// Forces a level (tests, benchmarks); returns the previous one. Throws hearth::Error when the CPU
// lacks it, since running those instructions would kill the process.
SimdLevel set_simd_level(SimdLevel level);

const char* simd_level_name(SimdLevel level);  // "scalar", "avx2", "avx512", "avx512vnni"
std::optional<SimdLevel> parse_simd_level(std::string_view name);

}  // namespace hearth::cpu
