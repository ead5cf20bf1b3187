// Quantized GEMM kernels, AVX-512 with VNNI: vpdpbusd / vpdpwssd.
// GCC 12's _mm512_undefined_* self-initialise and trip -Wuninitialized when inlined (GCC PR
// 105593); the pragma must precede the header since the warning points into it.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backend/cpu/gemm/gemm_act.h"
#include "backend/cpu/gemm/gemm_kernels.h"
#include "format/dtype.h"
#include "quant/blocks.h"

#define HEARTH_GEMM_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define HEARTH_GEMM_VNNI 1

namespace hearth::gemm::detail {
namespace {
#include "backend/cpu/gemm/gemm_driver_impl.h"
#include "backend/cpu/gemm/gemm_quant_impl.h"
// After the run-time panels, whose activation layouts it reads.
#include "backend/cpu/gemm/gemm_prepacked_impl.h"
}  // namespace

const GemmKernel kGemmQ4_0Vnni = make_kernel_prepacked<Q4_0Tr, Q4_0Pk>("q4_0/avx512vnni");
const GemmKernel kGemmQ8_0Vnni = make_kernel_prepacked<Q8_0Tr, Q8_0Pk>("q8_0/avx512vnni");
const GemmKernel kGemmQ4_KVnni = make_kernel_prepacked<Q4_KTr, Q4_KPk>("q4_k/avx512vnni");
const GemmKernel kGemmQ6_KVnni = make_kernel_prepacked<Q6_KTr, Q6_KPk>("q6_k/avx512vnni");

}  // namespace hearth::gemm::detail
