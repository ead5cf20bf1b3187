#include "backend/cpu/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "util/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HEARTH_X86 1
#endif

namespace hearth::cpu {
namespace {

#ifdef HEARTH_X86
// XCR0 says which register files the OS saves on a context switch; without that a CPU feature
// flag alone is not enough to use the registers.
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  const bool avx = (c >> 28) & 1;
  const bool fma = (c >> 12) & 1;
  const bool f16c = (c >> 29) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM0-15 upper, ZMM16-31
  if (!ymm_saved) return f;
  f.fma = fma;
  f.f16c = f16c;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b >> 5) & 1;
  if (zmm_saved) {
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
  }
  const unsigned max_sub = a;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx_vnni = (a >> 4) & 1;
    if (zmm_saved) f.avx512bf16 = (a >> 5) & 1;
  }
  return f;
}
#else
CpuFeatures detect() {
  return {};
}
#endif

bool supports(const CpuFeatures& f, SimdLevel level) {
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  switch (level) {
    case SimdLevel::kScalar:
      return true;
    case SimdLevel::kAvx2:
      return avx2;
    case SimdLevel::kAvx512:
      return avx512;
    case SimdLevel::kAvx512Vnni:
      return avx512 && f.avx512vnni;
  }
  return false;
}

// -1 until resolved; a relaxed load per kernel call is all the hot path pays.
std::atomic<int> g_level{-1};

SimdLevel resolve_from_env() {
  const char* env = std::getenv("HEARTH_SIMD");
  if (env == nullptr || *env == '\0') return best_simd_level();
  auto level = parse_simd_level(env);
  if (!level)
    throw Error("HEARTH_SIMD", std::string("unknown level '") + env +
                                   "' (expected scalar, avx2, avx512 or avx512vnni)");
  if (!supports(cpu_features(), *level))
    throw Error("HEARTH_SIMD", std::string(env) + " is not supported by this CPU (best: " +
                                   simd_level_name(best_simd_level()) + ")");
  return *level;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

SimdLevel best_simd_level() {
  for (int l = kNumSimdLevels - 1; l > 0; --l)
    if (supports(cpu_features(), static_cast<SimdLevel>(l))) return static_cast<SimdLevel>(l);
  return SimdLevel::kScalar;
}

SimdLevel simd_level() {
  int v = g_level.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<SimdLevel>(v);
  SimdLevel level = resolve_from_env();
  int expected = -1;
  // A concurrent set_simd_level wins over the environment.
  if (!g_level.compare_exchange_strong(expected, static_cast<int>(level)))
    return static_cast<SimdLevel>(expected);
  return level;
}

SimdLevel set_simd_level(SimdLevel level) {
  if (!supports(cpu_features(), level))
    throw Error("simd", std::string(simd_level_name(level)) + " is not supported by this CPU");
  int prev = g_level.exchange(static_cast<int>(level));
  return prev >= 0 ? static_cast<SimdLevel>(prev) : best_simd_level();
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
    case SimdLevel::kAvx512Vnni:
      return "avx512vnni";
  }
  return "unknown";
}

std::optional<SimdLevel> parse_simd_level(std::string_view name) {
  for (int l = 0; l < kNumSimdLevels; ++l)
    if (name == simd_level_name(static_cast<SimdLevel>(l))) return static_cast<SimdLevel>(l);
  return std::nullopt;
}

}  // namespace hearth::cpu
