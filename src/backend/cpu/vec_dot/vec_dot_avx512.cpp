// AVX-512 (F/BW/VL/DQ) kernels without VNNI: integer products through vpmaddubsw/vpmaddwd.
// GCC 12's _mm512_undefined_* self-initialise and trip -Wuninitialized when inlined (GCC PR
// 105593); the pragma must precede the header since the warning points into it.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "backend/cpu/vec_dot/kernels.h"
#include "quant/blocks.h"

#define HEARTH_QK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define HEARTH_QK_VNNI 0

namespace hearth::cpu::detail {
using namespace hearth::quant;
namespace {
#include "backend/cpu/vec_dot/vec_dot_avx512_impl.h"
}  // namespace

const KernelSet kAvx512Kernels = {
    dot_q4_0_q8_0, dot_q8_0_q8_0, dot_q4_k_q8_k, dot_q6_k_q8_k, dot_f32,
    dot_f16,       dot_bf16,      quantize_q8_0, quantize_q8_k,
};

}  // namespace hearth::cpu::detail
