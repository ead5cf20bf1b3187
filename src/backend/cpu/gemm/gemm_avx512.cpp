// Quantized GEMM kernels, AVX-512 without VNNI: integer products through vpmaddubsw / vpmaddwd.
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
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define HEARTH_GEMM_VNNI 0

namespace hearth::gemm::detail {
namespace {
#include "backend/cpu/gemm/gemm_driver_impl.h"
#include "backend/cpu/gemm/gemm_quant_impl.h"
// After the run-time panels, whose activation layouts it reads.
#include "backend/cpu/gemm/gemm_prepacked_impl.h"
}  // namespace

const GemmKernel kGemmQ4_0Avx512 = make_kernel_prepacked<Q4_0Tr, Q4_0Pk>("q4_0/avx512");
const GemmKernel kGemmQ4_KAvx512 = make_kernel_prepacked<Q4_KTr, Q4_KPk>("q4_k/avx512");
const GemmKernel kGemmQ6_KAvx512 = make_kernel_prepacked<Q6_KTr, Q6_KPk>("q6_k/avx512");

}  // namespace hearth::gemm::detail
