// The CUDA backend against independent references: every op against the CPU backend (or, for
// matmul, a double-precision product over the CPU's reference dequantization of the same bytes),
// and whole-model logits against transformers' float32 fixtures. On a machine without a GPU, or in
// a build without CUDA, every test skips with a "no GPU: ..." message, except the format decoders,
// which also compile for the host and are checked there in every CUDA build.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/vec_dot/vec_dot.h"
#include "kv/kv_cache.h"
#include "quant/half.h"
#include "quant/quantize.h"
#include "runtime/batch_builder.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "support/reference_logits.h"
#ifdef HEARTH_HAVE_CUDA
#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/gemv_units.cuh"
#include "backend/cuda/kernels.h"
#endif

namespace hearth {
namespace {

const std::string kData = HEARTH_TEST_DATA;

// Empty when a GPU can run the tests, else why not.
std::string no_gpu_reason() {
#ifndef HEARTH_HAVE_CUDA
  return "this build has no CUDA backend (HEARTH_CUDA=OFF)";
#else
  if (cuda_device_count() == 0) return "no CUDA device found";
  return "";
#endif
}

#define HEARTH_REQUIRE_GPU()                                                   \
  do {                                                                         \
    const std::string hearth_reason_ = no_gpu_reason();                        \
    if (!hearth_reason_.empty()) GTEST_SKIP() << "no GPU: " << hearth_reason_; \
  } while (0)

std::unique_ptr<Backend> make_gpu() {
  BackendOptions o;
  o.device = "cuda";
  return make_backend(o);
}

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// A buffer of the backend's memory holding `v`.
DeviceBuffer put(Backend& b, const std::vector<float>& v) {
  DeviceBuffer d(&b, v.size() * sizeof(float));
  b.from_host(d.get(), v.data(), v.size() * sizeof(float));
  return d;
}

std::vector<float> get(Backend& b, const DeviceBuffer& d, size_t n) {
  std::vector<float> v(n);
  b.to_host(v.data(), d.get(), n * sizeof(float));
  return v;
}

float max_abs(const std::vector<float>& a) {
  float m = 0;
  for (float x : a) m = std::max(m, std::fabs(x));
  return m;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// A weight tensor in host memory, quantized from random values with the CPU's reference
// quantizer: the exact bytes a GGUF file would hold.
struct HostTensor {
  std::vector<uint8_t> bytes;
  TensorView view;
};

HostTensor make_tensor(DType t, int64_t rows, int64_t cols, uint32_t seed, bool vector = false) {
  HostTensor h;
  const size_t rb = dtype_row_bytes(t, cols);
  h.bytes.resize(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    auto v = random_vec(static_cast<size_t>(cols), seed + static_cast<uint32_t>(r));
    quant::quantize_row(t, v.data(), h.bytes.data() + rb * static_cast<size_t>(r), cols);
  }
  h.view.name = "test.weight";
  h.view.dtype = t;
  h.view.shape = vector ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
  h.view.data = h.bytes.data();
  h.view.nbytes = h.bytes.size();
  h.view.file = "cuda_backend_test";
  return h;
}

// The tensor's values as the CPU's reference dequantizer reads them, row-major.
std::vector<float> dequantized(const HostTensor& h, int64_t rows, int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  const size_t rb = dtype_row_bytes(h.view.dtype, cols);
  for (int64_t r = 0; r < rows; ++r)
    quant::dequantize_row(h.view.dtype, h.bytes.data() + rb * static_cast<size_t>(r),
                          out.data() + static_cast<size_t>(r * cols), cols);
  return out;
}

const DType kAllTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                           DType::Q4_0, DType::Q4_K, DType::Q6_K};

// ---- the device decoders of every weight format, run on the host (no GPU needed) ----

#ifdef HEARTH_HAVE_CUDA
// The host's picture of an uploaded tensor: its rows in the device layout (repacked where the type
// is), as CudaBackend::upload leaves them.
std::vector<uint8_t> device_layout(const HostTensor& h, int64_t rows, int64_t cols) {
  const DType t = h.view.dtype;
  const size_t file_row = cuda::file_row_bytes(t, cols), stride = cuda::gpu_row_stride(t, cols);
  std::vector<uint8_t> out(stride * static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = h.bytes.data() + file_row * static_cast<size_t>(r);
    uint8_t* dst = out.data() + stride * static_cast<size_t>(r);
    if (!cuda::repacked(t)) {
      std::memcpy(dst, src, file_row);
      continue;
    }
    const int64_t nb = cols / cuda::block_elems_of(t);
    const size_t bb = file_row / static_cast<size_t>(nb);
    for (int64_t b = 0; b < nb; ++b)
      cuda::repack_block(t, src + bb * static_cast<size_t>(b), b, nb, dst);
  }
  return out;
}

// Group decode (dequantization to f16) and element decode (embedding, norms, the generic GEMV) of
// a row in its device layout, against the CPU's reference dequantizer of the file bytes: they must
// agree bit for bit.
template <class G>
void check_group_decoder(DType t, int64_t cols) {
  HostTensor h = make_tensor(t, 1, cols, 17);
  const std::vector<float> ref = dequantized(h, 1, cols);
  const std::vector<uint8_t> dev = device_layout(h, 1, cols);
  std::vector<float> group(static_cast<size_t>(cols));
  for (int64_t g = 0; g < cols / 32; ++g)
    G::decode(dev.data(), cols / cuda::block_elems_of(t), g, group.data() + g * 32);
  EXPECT_EQ(group, ref) << dtype_name(t);
}

void check_elem_decoder(DType t, int64_t cols) {
  HostTensor h = make_tensor(t, 1, cols, 19);
  const std::vector<float> ref = dequantized(h, 1, cols);
  const std::vector<uint8_t> dev = device_layout(h, 1, cols);
  std::vector<float> elem(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i)
    elem[static_cast<size_t>(i)] = cuda::load_elem(t, dev.data(), cols, i);
  EXPECT_EQ(elem, ref) << dtype_name(t);
}

// Activations quantized on the host with act_quant.cuh's serial definitions, as the GEMV reads
// them.
struct HostQAct {
  std::vector<int8_t> qs;
  std::vector<float> d;
  std::vector<int32_t> s;
  int64_t cols = 0;
  cuda::QAct view() const { return {qs.data(), d.data(), s.data(), cols}; }
};

HostQAct host_quantize(cuda::ActQuant kind, const std::vector<float>& x, int n, int64_t cols) {
  HostQAct h;
  h.cols = cols;
  h.qs.resize(static_cast<size_t>(n * cols));
  const bool k = kind == cuda::ActQuant::kQ8_K;
  h.d.resize(static_cast<size_t>(n * cols / (k ? 256 : 32)));
  h.s.resize(static_cast<size_t>(n * cols / (k ? 16 : 32)));
  for (int t = 0; t < n; ++t)
    for (int64_t b = 0; b < cols / (k ? 256 : 32); ++b) {
      const size_t e = static_cast<size_t>(t * cols + b * (k ? 256 : 32));
      const size_t bi = static_cast<size_t>(t * (cols / (k ? 256 : 32)) + b);
      if (k)
        cuda::q8_k_block(x.data() + e, h.qs.data() + e, &h.d[bi], &h.s[bi * 16]);
      else
        cuda::q8_0_block(x.data() + e, h.qs.data() + e, &h.d[bi], &h.s[bi]);
    }
  return h;
}

// The GEMV units of type U over whole rows, on the host: sum over the row's units of
// dot(load(row, u), prep(x, u)), as each thread of the kernel accumulates them.
template <class U>
std::vector<double> unit_products(const std::vector<uint8_t>& dev, DType t, int64_t rows,
                                  int64_t cols, const std::vector<float>& x) {
  const size_t stride = cuda::gpu_row_stride(t, cols);
  const int64_t units = U::units(cols);
  const HostQAct q = host_quantize(cuda::act_quant_for(t), x, 1, cols);
  const cuda::GemvIn in{x.data(), q.view(), cols};
  std::vector<double> y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t u = 0; u < units; ++u) {
      typename U::X xu;
      U::prep(in, 0, u, xu);
      typename U::W wu;
      U::load(dev.data() + stride * static_cast<size_t>(r), units, u, wu);
      s += U::dot(wu, xu);
    }
    y[static_cast<size_t>(r)] = s;
  }
  return y;
}

std::vector<double> reference_products(const std::vector<float>& w, int64_t rows, int64_t cols,
                                       const std::vector<float>& x) {
  std::vector<double> y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      y[static_cast<size_t>(r)] +=
          static_cast<double>(w[static_cast<size_t>(r * cols + c)]) * x[static_cast<size_t>(c)];
  return y;
}

double max_rel_error(const std::vector<double>& got, const std::vector<double>& want) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return err / scale;
}

// Quantized units turn their 32 activations into int8 with one scale. With integer activations
// whose every aligned group of 8 holds a +-127, that quantization is exact (scale 1), so the units
// must then reproduce the product to float rounding: any mix-up of elements, nibbles, scales or
// minimums shows as a large error. Random float activations check the quantization itself.
template <class U>
void check_units(DType t, int64_t cols, bool quantized) {
  const int64_t rows = 5;
  HostTensor h = make_tensor(t, rows, cols, 23);
  const std::vector<float> w = dequantized(h, rows, cols);
  const std::vector<uint8_t> dev = device_layout(h, rows, cols);
  std::mt19937 rng(7);
  std::vector<float> xi(static_cast<size_t>(cols));
  for (auto& v : xi) v = static_cast<float>(static_cast<int>(rng() % 253) - 126);
  for (int64_t c = 0; c < cols; c += 8)
    xi[static_cast<size_t>(c) + rng() % 8] = rng() % 2 ? 127.0f : -127.0f;
  const double exact = max_rel_error(unit_products<U>(dev, t, rows, cols, xi),
                                     reference_products(w, rows, cols, xi));
  EXPECT_LT(exact, 1e-5) << dtype_name(t) << " integer activations";
  const std::vector<float> xf = random_vec(static_cast<size_t>(cols), 29);
  const double err = max_rel_error(unit_products<U>(dev, t, rows, cols, xf),
                                   reference_products(w, rows, cols, xf));
  EXPECT_LT(err, quantized ? 2e-2 : 1e-5) << dtype_name(t) << " float activations";
  std::printf("%s units: exact-activation error %.2g, float-activation error %.2g\n", dtype_name(t),
              exact, err);
}
#endif

TEST(CudaHostDecoders, MatchTheReferenceDequantizer) {
#ifndef HEARTH_HAVE_CUDA
  GTEST_SKIP() << "no GPU: " << no_gpu_reason();
#else
  check_group_decoder<cuda::GroupQ8_0>(DType::Q8_0, 512);
  check_group_decoder<cuda::GroupQ4_0>(DType::Q4_0, 512);
  check_group_decoder<cuda::GroupQ4_K>(DType::Q4_K, 1024);
  check_group_decoder<cuda::GroupQ6_K>(DType::Q6_K, 1024);
  for (DType t : kAllTypes) check_elem_decoder(t, 1024);
  check_elem_decoder(DType::Q6_K, 768);  // 3 super-blocks: the repacked row is padded
  check_elem_decoder(DType::Q4_0, 96);
#endif
}

// The GPU's activation quantizers (serial definitions) against the CPU's, bit for bit.
TEST(CudaHostActQuant, EqualsTheCpuQuantizer) {
#ifndef HEARTH_HAVE_CUDA
  GTEST_SKIP() << "no GPU: " << no_gpu_reason();
#else
  const int64_t cols = 1024;
  std::vector<float> x = random_vec(static_cast<size_t>(cols), 3, 4.0f);
  x[7] = 0.0f;
  for (int j = 256; j < 512; ++j) x[static_cast<size_t>(j)] = 0.0f;  // an all-zero Q8_K block
  x[600] = -5.0f, x[700] = 5.0f;  // equal magnitudes: the first sets the sign
  // A Q8_0 block of amax 127 with values at .5: rounding ties, away from zero on both sides.
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(800 + j)] = static_cast<float>(j) - 15.5f;
  x[831] = 127.0f;
  {
    const HostQAct g = host_quantize(cuda::ActQuant::kQ8_0, x, 1, cols);
    std::vector<uint8_t> cpu(dtype_row_bytes(DType::Q8_0, cols));
    cpu::quantize_activation(DType::Q8_0, x.data(), cpu.data(), cols);
    for (int64_t b = 0; b < cols / 32; ++b) {
      const uint8_t* blk = cpu.data() + 34 * b;
      uint16_t d16;
      std::memcpy(&d16, blk, 2);
      ASSERT_EQ(g.d[static_cast<size_t>(b)], f16_to_f32(d16)) << "block " << b;
      int sum = 0;
      for (int j = 0; j < 32; ++j) {
        const int8_t q = static_cast<int8_t>(blk[2 + j]);
        ASSERT_EQ(g.qs[static_cast<size_t>(32 * b + j)], q) << "block " << b << " element " << j;
        sum += q;
      }
      ASSERT_EQ(g.s[static_cast<size_t>(b)], sum);
    }
  }
  {
    const HostQAct g = host_quantize(cuda::ActQuant::kQ8_K, x, 1, cols);
    std::vector<uint8_t> cpu(dtype_row_bytes(DType::Q8_K, cols));
    cpu::quantize_activation(DType::Q8_K, x.data(), cpu.data(), cols);
    const size_t blk_bytes = cpu.size() / static_cast<size_t>(cols / 256);
    for (int64_t b = 0; b < cols / 256; ++b) {
      const uint8_t* blk = cpu.data() + blk_bytes * static_cast<size_t>(b);
      float d;
      std::memcpy(&d, blk, 4);
      ASSERT_EQ(g.d[static_cast<size_t>(b)], d) << "block " << b;
      for (int j = 0; j < 256; ++j)
        ASSERT_EQ(g.qs[static_cast<size_t>(256 * b + j)], static_cast<int8_t>(blk[4 + j]))
            << "block " << b << " element " << j;
      for (int gi = 0; gi < 16; ++gi) {
        int16_t bs;
        std::memcpy(&bs, blk + 4 + 256 + 2 * gi, 2);
        ASSERT_EQ(g.s[static_cast<size_t>(16 * b + gi)], bs);
      }
    }
  }
#endif
}

TEST(CudaHostGemvUnits, ReproduceTheProductOfEveryWeightType) {
#ifndef HEARTH_HAVE_CUDA
  GTEST_SKIP() << "no GPU: " << no_gpu_reason();
#else
  check_units<cuda::UnitQ4_0>(DType::Q4_0, 1024, true);
  check_units<cuda::UnitQ8_0>(DType::Q8_0, 1024, true);
  check_units<cuda::UnitQ4_K>(DType::Q4_K, 1024, true);
  check_units<cuda::UnitQ6_K>(DType::Q6_K, 1024, true);
  check_units<cuda::UnitQ6_K>(DType::Q6_K, 768, true);
  check_units<cuda::UnitBF16>(DType::BF16, 1024, false);
  check_units<cuda::UnitF16>(DType::F16, 1024, false);
  check_units<cuda::UnitF32>(DType::F32, 1024, false);
#endif
}

// ---- matmul: GEMV (n <= 8), quantized tensor-core GEMM (9..64) and cuBLAS paths, every type ----

struct MatmulCase {
  DType type;
  int n;
  int64_t cols;
};

class CudaMatmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(CudaMatmul, MatchesDoubleReferenceOverDequantizedWeights) {
  HEARTH_REQUIRE_GPU();
  const auto [type, n, cols] = GetParam();
  const int64_t rows = 75;  // not a multiple of the rows a GEMV warp (4) or block (8 warps) takes
  auto gpu = make_gpu();
  HostTensor h = make_tensor(type, rows, cols, 11);
  const std::vector<float> w = dequantized(h, rows, cols);
  const std::vector<float> x = random_vec(static_cast<size_t>(n * cols), 5);
  std::vector<float> ref(static_cast<size_t>(n * rows));
  for (int t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c)
        s += static_cast<double>(w[static_cast<size_t>(r * cols + c)]) *
             x[static_cast<size_t>(t * cols + c)];
      ref[static_cast<size_t>(t * rows + r)] = static_cast<float>(s);
    }
  Weight wd = gpu->upload(h.view);
  DeviceBuffer xd = put(*gpu, x);
  DeviceBuffer yd(gpu.get(), ref.size() * sizeof(float));
  gpu->matmul(wd, xd.f32(), n, yd.f32());
  const std::vector<float> y = get(*gpu, yd, ref.size());
  // Float-weight GEMV and F32 SGEMM accumulate float32 products of float32 activations. The
  // quantized GEMV rounds each 32 activations to int8 with one scale (as the CPU's kernels do); the
  // tensor-core path rounds them to f16 (2^-11; bf16 weights are held as f16).
  // Up to 64 tokens float weights take hi + lo halves of the activations (~22 bits); the
  // quantized GEMV (up to 8) takes the CPU's int8 activations; the quantized tensor-core kernel
  // (9..64) and prompts take f16 activations.
  const bool quantized = type != DType::F32 && type != DType::F16 && type != DType::BF16;
  float tol = 1e-4f;
  if (n <= 8 && quantized) tol = 1e-2f;
  if (n > 8 && quantized) tol = 5e-3f;
  if (n > 64 && type != DType::F32) tol = 5e-3f;
  const float err = max_abs_diff(y, ref) / max_abs(ref);
  EXPECT_LT(err, tol) << dtype_name(type) << " n=" << n << " cols=" << cols;
  std::printf("%s n=%d cols=%lld: max |gpu - ref| / max |ref| = %.3g\n", dtype_name(type), n,
              static_cast<long long>(cols), err);
}

std::vector<MatmulCase> matmul_cases() {
  std::vector<MatmulCase> c;
  for (DType t : kAllTypes)
    for (int n : {1, 5, 8, 16, 37, 80}) c.push_back({t, n, 512});
  for (DType t : kAllTypes) c.push_back({t, 64, 2048});  // the most tokens of the quantized GEMM
  c.push_back({DType::F32, 3, 100});   // cols % 8 != 0: the element-at-a-time GEMV
  c.push_back({DType::BF16, 2, 100});  // the same for a 2-byte type
  c.push_back({DType::F16, 37, 100});  // and cuBLAS with an odd leading dimension
  return c;
}

INSTANTIATE_TEST_SUITE_P(CudaAllTypes, CudaMatmul, ::testing::ValuesIn(matmul_cases()),
                         [](const auto& info) {
                           return std::string(dtype_name(info.param.type)) + "_n" +
                                  std::to_string(info.param.n) + "_k" +
                                  std::to_string(info.param.cols);
                         });

// The quantized GEMV multiplies the CPU's int8 activations: its products equal the CPU backend's
// up to the order of float additions, at every token count it serves (1 .. 8).
TEST(CudaMatmul, QuantizedEqualsCpuProducts) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(2);
  const int64_t rows = 75, cols = 1024;
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    HostTensor h = make_tensor(t, rows, cols, 51);
    Weight wc = cpu.upload(h.view), wg = gpu->upload(h.view);
    for (int n : {1, 5, 8}) {
      const std::vector<float> x = random_vec(static_cast<size_t>(n * cols), 53, 3.0f);
      std::vector<float> want(static_cast<size_t>(n * rows));
      cpu.matmul(wc, x.data(), n, want.data());
      DeviceBuffer xd = put(*gpu, x), yd(gpu.get(), want.size() * sizeof(float));
      gpu->matmul(wg, xd.f32(), n, yd.f32());
      const float err = max_abs_diff(get(*gpu, yd, want.size()), want) / max_abs(want);
      EXPECT_LT(err, 1e-5f) << dtype_name(t) << " n=" << n;
    }
  }
}

// The device's activation quantizers against their serial definitions (themselves checked
// against the CPU's on the host).
TEST(CudaOps, ActivationQuantizersEqualTheSerialDefinitions) {
  HEARTH_REQUIRE_GPU();
#ifdef HEARTH_HAVE_CUDA  // cuda:: names exist in CUDA builds only
  auto gpu = make_gpu();
  const int n = 3;
  const int64_t cols = 1024;
  std::vector<float> x = random_vec(static_cast<size_t>(n * cols), 61, 4.0f);
  for (int j = 256; j < 512; ++j) x[static_cast<size_t>(cols + j)] = 0.0f;  // a zero Q8_K block
  x[600] = -5.0f, x[700] = 5.0f;
  for (int j = 0; j < 32; ++j)
    x[static_cast<size_t>(2 * cols + 800 + j)] = static_cast<float>(j) - 15.5f;
  x[static_cast<size_t>(2 * cols + 831)] = 127.0f;
  DeviceBuffer xd = put(*gpu, x);
  DeviceBuffer buf(gpu.get(), cuda::act_quant_bytes(n, cols));
  for (cuda::ActQuant kind : {cuda::ActQuant::kQ8_0, cuda::ActQuant::kQ8_K}) {
    const HostQAct want = host_quantize(kind, x, n, cols);
    const cuda::QAct q = cuda::quantize_act(kind, xd.f32(), n, cols, buf.get(), nullptr);
    std::vector<int8_t> qs(want.qs.size());
    std::vector<float> d(want.d.size());
    std::vector<int32_t> sums(want.s.size());
    gpu->to_host(qs.data(), q.qs, qs.size());
    gpu->to_host(d.data(), q.d, d.size() * 4);
    gpu->to_host(sums.data(), q.s, sums.size() * 4);
    const bool k = kind == cuda::ActQuant::kQ8_K;
    EXPECT_EQ(qs, want.qs) << (k ? "Q8_K" : "Q8_0");
    EXPECT_EQ(d, want.d) << (k ? "Q8_K" : "Q8_0");
    EXPECT_EQ(sums, want.s) << (k ? "Q8_K" : "Q8_0");
  }
#endif
}

// bf16 weights are held as f16 on the GPU, except a tensor with values beyond f16's range: that one
// stays bf16 (and its prefill takes bf16 activations), and both paths must still be right.
TEST(CudaMatmul, Bf16BeyondF16RangeStaysBf16) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  const int64_t rows = 40, cols = 256;
  HostTensor h = make_tensor(DType::BF16, rows, cols, 13);
  const uint16_t big = 0x4880;  // 262144 in bf16
  std::memcpy(h.bytes.data() + 2 * 5, &big, 2);
  Weight w = gpu->upload(h.view);
  EXPECT_EQ(w.dtype, DType::BF16);
  HostTensor ok = make_tensor(DType::BF16, rows, cols, 13);
  EXPECT_EQ(gpu->upload(ok.view).dtype, DType::F16);
  const std::vector<float> wf = dequantized(h, rows, cols);
  for (int n : {3, 20}) {
    const std::vector<float> x = random_vec(static_cast<size_t>(n * cols), 5);
    std::vector<float> ref(static_cast<size_t>(n * rows));
    for (int t = 0; t < n; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double acc = 0;
        for (int64_t c = 0; c < cols; ++c)
          acc += static_cast<double>(wf[static_cast<size_t>(r * cols + c)]) *
                 x[static_cast<size_t>(t * cols + c)];
        ref[static_cast<size_t>(t * rows + r)] = static_cast<float>(acc);
      }
    DeviceBuffer xd = put(*gpu, x), yd(gpu.get(), ref.size() * sizeof(float));
    gpu->matmul(w, xd.f32(), n, yd.f32());
    EXPECT_LT(max_abs_diff(get(*gpu, yd, ref.size()), ref) / max_abs(ref), n > 8 ? 1e-2f : 1e-4f)
        << "n=" << n;
  }
}

// Q/K/V-style products in one call (one GEMV launch per weight type, one activation conversion for
// cuBLAS) must equal separate calls bit for bit; Q4_K_M mixes Q4_K and Q6_K within a layer.
TEST(CudaMatmulShared, EqualsSeparateProducts) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  const int64_t cols = 512;
  const DType types[] = {DType::Q4_K, DType::Q6_K, DType::Q4_K};
  const int64_t rows[] = {96, 40, 40};
  std::vector<HostTensor> hosts;
  std::vector<Weight> ws;
  for (int m = 0; m < 3; ++m) {
    hosts.push_back(make_tensor(types[m], rows[m], cols, 31 + static_cast<uint32_t>(m)));
    ws.push_back(gpu->upload(hosts.back().view));
  }
  for (int n : {1, 5, 20}) {
    DeviceBuffer xd = put(*gpu, random_vec(static_cast<size_t>(n * cols), 41));
    std::vector<DeviceBuffer> fused, single;
    std::vector<MatmulOut> outs;
    for (int m = 0; m < 3; ++m) {
      fused.emplace_back(gpu.get(), static_cast<size_t>(n * rows[m]) * sizeof(float));
      single.emplace_back(gpu.get(), static_cast<size_t>(n * rows[m]) * sizeof(float));
      outs.push_back({&ws[static_cast<size_t>(m)], fused.back().f32()});
    }
    gpu->matmul_shared_input(outs, xd.f32(), n);
    for (int m = 0; m < 3; ++m) {
      gpu->matmul(ws[static_cast<size_t>(m)], xd.f32(), n, single[static_cast<size_t>(m)].f32());
      const size_t count = static_cast<size_t>(n * rows[m]);
      EXPECT_EQ(get(*gpu, fused[static_cast<size_t>(m)], count),
                get(*gpu, single[static_cast<size_t>(m)], count))
          << "matrix " << m << ", n=" << n;
    }
  }
}

// ---- the other ops, against the CPU backend on the same inputs ----

BatchInputs simple_batch(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos) {
  BatchInputs b;
  b.tokens = tokens;
  b.pos = pos;
  b.seq.assign(tokens.size(), 0);
  for (size_t i = 0; i < tokens.size(); ++i) b.slot.push_back(static_cast<int32_t>(i));
  b.block_tables = {0};
  b.table_offset = {0, 1};
  return b;
}

TEST(CudaOps, EmbedEveryWeightType) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(1);
  const int64_t vocab = 20, dim = 256;
  const std::vector<int32_t> tokens = {3, 0, 19, 7, 3};
  for (DType t : kAllTypes) {
    HostTensor h = make_tensor(t, vocab, dim, 3);
    Weight wc = cpu.upload(h.view), wg = gpu->upload(h.view);
    BatchInputs b = simple_batch(tokens, {0, 1, 2, 3, 4});
    cpu.set_batch(b);
    gpu->set_batch(b);
    std::vector<float> want(tokens.size() * dim);
    cpu.embed(wc, want.data());
    DeviceBuffer out(gpu.get(), want.size() * sizeof(float));
    gpu->embed(wg, out.f32());
    EXPECT_LT(max_abs_diff(get(*gpu, out, want.size()), want), 1e-5f * max_abs(want))
        << dtype_name(t);
  }
}

TEST(CudaOps, RmsNorm) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(1);
  const int n = 5;
  const int64_t dim = 320;
  for (DType t : {DType::F32, DType::BF16, DType::F16}) {
    HostTensor h = make_tensor(t, 1, dim, 9, /*vector=*/true);
    Weight wc = cpu.upload(h.view), wg = gpu->upload(h.view);
    auto x = random_vec(static_cast<size_t>(n * dim), 4, 3.0f);
    std::vector<float> want(x.size());
    cpu.rmsnorm(x.data(), wc, 1e-5f, n, want.data());
    DeviceBuffer xd = put(*gpu, x), out(gpu.get(), x.size() * sizeof(float));
    gpu->rmsnorm(xd.f32(), wg, 1e-5f, n, out.f32());
    EXPECT_LT(max_abs_diff(get(*gpu, out, x.size()), want), 1e-5f * max_abs(want)) << dtype_name(t);
  }
}

TEST(CudaOps, RopeBothLayouts) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(1);
  const int hd = 128, heads = 4;
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i)
    inv_freq[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / hd));
  const std::vector<int32_t> pos = {0, 1, 17, 1000, 4095};
  BatchInputs b = simple_batch({1, 2, 3, 4, 5}, pos);
  for (RopeLayout layout : {RopeLayout::Halves, RopeLayout::Interleaved}) {
    cpu.set_rope(inv_freq, layout);
    gpu->set_rope(inv_freq, layout);
    cpu.set_batch(b);
    gpu->set_batch(b);
    auto x = random_vec(pos.size() * heads * hd, 8);
    DeviceBuffer xd = put(*gpu, x);
    cpu.rope(x.data(), static_cast<int>(pos.size()), heads, hd);
    gpu->rope(xd.f32(), static_cast<int>(pos.size()), heads, hd);
    EXPECT_LT(max_abs_diff(get(*gpu, xd, x.size()), x), 1e-5f)
        << (layout == RopeLayout::Halves ? "halves" : "interleaved");
  }
}

TEST(CudaOps, SwigluAddGather) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(1);
  const size_t count = 6 * 160;
  auto g = random_vec(count, 1, 6.0f), u = random_vec(count, 2, 2.0f);
  DeviceBuffer gd = put(*gpu, g), ud = put(*gpu, u);
  std::vector<float> want(count);
  cpu.swiglu(g.data(), u.data(), count, want.data());
  gpu->swiglu(gd.f32(), ud.f32(), count, gd.f32());  // in place, as the model calls it
  EXPECT_LT(max_abs_diff(get(*gpu, gd, count), want), 1e-5f * max_abs(want));

  cpu.add(g.data(), u.data(), count);
  DeviceBuffer gd2 = put(*gpu, random_vec(count, 1, 6.0f));
  gpu->add(gd2.f32(), ud.f32(), count);
  EXPECT_EQ(get(*gpu, gd2, count), g);

  // The rows a step returns travel with its batch: logits_rows, then argmax_rows.
  const int dim = 160;
  BatchInputs b = simple_batch({1, 2, 3, 4, 5, 6}, {0, 1, 2, 3, 4, 5});
  b.logits_rows = {4, 0};
  b.argmax_rows = {4, 5};
  cpu.set_batch(b);
  gpu->set_batch(b);
  std::vector<float> gathered(4 * dim);
  cpu.gather_rows(u.data(), dim, gathered.data());
  DeviceBuffer od(gpu.get(), gathered.size() * sizeof(float));
  gpu->gather_rows(ud.f32(), dim, od.f32());
  EXPECT_EQ(get(*gpu, od, gathered.size()), gathered);
}

TEST(CudaOps, ArgmaxRowsMatchesSampler) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  const int rows = 3;
  const int64_t cols = 128256;
  auto x = random_vec(static_cast<size_t>(rows * cols), 12);
  x[static_cast<size_t>(cols) + 77] = 5.0f;  // a tie in row 1: the lower index wins
  x[static_cast<size_t>(cols) + 900] = 5.0f;
  x[static_cast<size_t>(2 * cols) + cols - 1] = 9.0f;
  DeviceBuffer xd = put(*gpu, x);
  std::vector<int32_t> got(rows);
  gpu->argmax_rows(xd.f32(), rows, cols, got.data());
  for (int r = 0; r < rows; ++r)
    EXPECT_EQ(got[r], Sampler::argmax(x.data() + static_cast<size_t>(r) * cols, cols)) << r;
  EXPECT_EQ(got[1], 77);
}

// Default: three sequences through one paged cache with scattered blocks: a 37-token prefill from
// 0, one decode token at position 149 (keys already cached), and 5 tokens at positions 80..84.
// long_decode: one token at position 700 over 44 blocks in reverse order. Depending on the shape
// the GPU splits the keys over several blocks (flash-decoding) or not; the cases cover both.
// kv: the caches' element type. The CPU keeps F32 and F16; a BF16 GPU cache is checked against the
// CPU's F32 result, within bf16's rounding of the keys and values.
// prompt: a batch of more than 64 tokens, which takes the tensor-core attention: a 100-token
// prompt from 0, 37 tokens at positions 200..236 (earlier keys cached), one decode token at 80.
void attention_case(int hq, int hkv, int hd, bool long_decode = false, DType kv = DType::F32,
                    bool prompt = false) {
  auto gpu = make_gpu();
  CpuBackend cpu(2);
  const int bs = 16, n_blocks = 64, kv_dim = hkv * hd;
  BatchInputs b;
  b.block_size = bs;
  if (long_decode) {
    for (int i = 43; i >= 0; --i) b.block_tables.push_back(i + 10);
    b.table_offset = {0, 44};
  } else if (prompt) {
    for (int i = 0; i < 7; ++i) b.block_tables.push_back(2 * i + 1);
    for (int i = 0; i < 15; ++i) b.block_tables.push_back(60 - 2 * i);
    for (int i = 0; i < 6; ++i) b.block_tables.push_back(2 * i + 16);
    b.table_offset = {0, 7, 22, 28};
  } else {
    b.block_tables = {5, 2, 9, 0, 1, 3, 4, 6, 7, 8, 10, 11, 12, 20, 14, 31, 15, 16, 17};
    b.table_offset = {0, 3, 13, 19};
  }
  auto add_tokens = [&](int seq, int first, int count) {
    for (int p = first; p < first + count; ++p) {
      b.tokens.push_back(1);
      b.seq.push_back(seq);
      b.pos.push_back(p);
      b.slot.push_back(b.block_tables[static_cast<size_t>(b.table_offset[seq] + p / bs)] * bs +
                       p % bs);
    }
  };
  if (long_decode) {
    add_tokens(0, 700, 1);
  } else if (prompt) {
    add_tokens(0, 0, 100);
    add_tokens(1, 200, 37);
    add_tokens(2, 80, 1);
  } else {
    add_tokens(0, 0, 37);
    add_tokens(1, 149, 1);
    add_tokens(2, 80, 5);
  }
  const int n = b.n_tokens();
  const size_t cache = static_cast<size_t>(n_blocks) * bs * kv_dim;
  auto kc = random_vec(cache, 21), vc = random_vec(cache, 22);
  auto q = random_vec(static_cast<size_t>(n) * hq * hd, 23);
  auto k = random_vec(static_cast<size_t>(n) * kv_dim, 24);
  auto v = random_vec(static_cast<size_t>(n) * kv_dim, 25);

  cpu.set_batch(b);
  gpu->set_batch(b);
  const AttentionShape shape{hq, hkv, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  const DType cpu_kv = kv == DType::BF16 ? DType::F32 : kv;
  const size_t elem = dtype_row_bytes(cpu_kv, 1);
  std::vector<uint8_t> kc_cpu(cache * elem), vc_cpu(cache * elem);
  // Both caches start from the same random contents (the keys the batch does not write).
  {
    KvLayer fill{kc_cpu.data(), vc_cpu.data(), cpu_kv};
    CpuBackend filler(1);
    BatchInputs all;
    for (size_t i = 0; i < static_cast<size_t>(n_blocks) * bs; ++i) {
      all.tokens.push_back(0), all.pos.push_back(0), all.seq.push_back(0);
      all.slot.push_back(static_cast<int32_t>(i));
    }
    filler.set_batch(all);
    filler.kv_store(fill, kc.data(), vc.data(), static_cast<int>(all.tokens.size()), kv_dim);
  }
  std::vector<float> want(static_cast<size_t>(n) * hq * hd);
  const KvLayer cpu_layer{kc_cpu.data(), vc_cpu.data(), cpu_kv};
  cpu.kv_store(cpu_layer, k.data(), v.data(), n, kv_dim);
  cpu.attention(q.data(), cpu_layer, shape, n, want.data());

  const size_t gelem = dtype_row_bytes(kv, 1);
  DeviceBuffer kcd(gpu.get(), cache * gelem), vcd(gpu.get(), cache * gelem);
  const KvLayer gpu_layer{kcd.get(), vcd.get(), kv};
  {
    // The same initial contents, through the GPU's own store of every slot.
    BatchInputs all;
    for (size_t i = 0; i < static_cast<size_t>(n_blocks) * bs; ++i) {
      all.tokens.push_back(0), all.pos.push_back(0), all.seq.push_back(0);
      all.slot.push_back(static_cast<int32_t>(i));
    }
    gpu->set_batch(all);
    DeviceBuffer kall = put(*gpu, kc), vall = put(*gpu, vc);
    gpu->kv_store(gpu_layer, kall.f32(), vall.f32(), static_cast<int>(all.tokens.size()), kv_dim);
    gpu->set_batch(b);
  }
  DeviceBuffer qd = put(*gpu, q), kd = put(*gpu, k), vd = put(*gpu, v);
  DeviceBuffer out(gpu.get(), want.size() * sizeof(float));
  gpu->kv_store(gpu_layer, kd.f32(), vd.f32(), n, kv_dim);
  gpu->attention(qd.f32(), gpu_layer, shape, n, out.f32());
  if (kv != DType::BF16) {
    std::vector<uint8_t> kg(cache * gelem), vg(cache * gelem);
    gpu->to_host(kg.data(), kcd.get(), kg.size());
    gpu->to_host(vg.data(), vcd.get(), vg.size());
    EXPECT_EQ(kg, kc_cpu) << dtype_name(kv);
    EXPECT_EQ(vg, vc_cpu) << dtype_name(kv);
  }
  // The tensor-core path rounds queries, keys, values and probabilities to f16.
  const float tol = kv == DType::BF16 ? 2e-2f : prompt ? 3e-3f : 2e-5f;
  EXPECT_LT(max_abs_diff(get(*gpu, out, want.size()), want), tol)
      << hq << "/" << hkv << " heads, head_dim " << hd << ", " << dtype_name(kv) << " cache";
}

TEST(CudaOps, PagedAttentionGqa8BShape) {
  HEARTH_REQUIRE_GPU();
  attention_case(8, 2, 128);
}

TEST(CudaOps, PagedAttentionLongDecodeSplitOverTheContext) {
  HEARTH_REQUIRE_GPU();
  attention_case(32, 8, 128, /*long_decode=*/true);  // 8B's heads: 16 splits, 11 with keys
}

TEST(CudaOps, PagedAttentionUnsplit) {
  HEARTH_REQUIRE_GPU();
  attention_case(8, 8, 64);  // 43 tokens x 8 KV heads: enough blocks without a split
}

TEST(CudaOps, PagedAttentionSmallHeads) {
  HEARTH_REQUIRE_GPU();
  attention_case(4, 2, 16);   // devB's shape
  attention_case(3, 3, 256);  // no grouping, the largest head_dim
  attention_case(16, 1, 64);  // the largest group (405B: 128 query heads over 8 KV heads)
}

TEST(CudaOps, PromptAttentionOnTensorCores) {
  HEARTH_REQUIRE_GPU();
  attention_case(32, 8, 128, false, DType::F32, true);  // 8B's heads
  attention_case(2, 1, 128, false, DType::F32, true);   // devA's
  attention_case(8, 2, 64, false, DType::F32, true);
  attention_case(16, 1, 128, false, DType::F32, true);  // the largest group
  attention_case(32, 8, 128, false, DType::F16, true);
  attention_case(32, 8, 128, false, DType::BF16, true);
  attention_case(4, 2, 16, false, DType::F32, true);  // devB's: not a tensor-core shape
}

TEST(CudaOps, PagedAttentionHalfPrecisionCaches) {
  HEARTH_REQUIRE_GPU();
  attention_case(8, 2, 128, false, DType::F16);
  attention_case(32, 8, 128, true, DType::F16);
  attention_case(8, 2, 128, false, DType::BF16);
  attention_case(32, 8, 128, true, DType::BF16);
}

// The fused RoPE + KV store against the CPU's three separate ops, every cache type it holds.
TEST(CudaOps, RopeKvStoreEqualsSeparateOps) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(1);
  const int hd = 128, hq = 8, hkv = 2, kv_dim = hkv * hd;
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i)
    inv_freq[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / hd));
  const std::vector<int32_t> pos = {0, 1, 17, 1000, 4095};
  const int n = static_cast<int>(pos.size());
  BatchInputs b = simple_batch({1, 2, 3, 4, 5}, pos);
  b.slot = {7, 3, 0, 12, 9};
  const size_t slots = 16;
  for (RopeLayout layout : {RopeLayout::Halves, RopeLayout::Interleaved}) {
    for (DType kv : {DType::F32, DType::F16}) {
      cpu.set_rope(inv_freq, layout);
      gpu->set_rope(inv_freq, layout);
      cpu.set_batch(b);
      gpu->set_batch(b);
      auto q = random_vec(static_cast<size_t>(n) * hq * hd, 8);
      auto k = random_vec(static_cast<size_t>(n) * kv_dim, 9);
      auto v = random_vec(static_cast<size_t>(n) * kv_dim, 10);
      const size_t cache_bytes = slots * kv_dim * dtype_row_bytes(kv, 1);
      DeviceBuffer qd = put(*gpu, q), kd = put(*gpu, k), vd = put(*gpu, v);
      DeviceBuffer kcd(gpu.get(), cache_bytes), vcd(gpu.get(), cache_bytes);
      std::vector<uint8_t> zeros(cache_bytes, 0);
      gpu->from_host(kcd.get(), zeros.data(), cache_bytes);
      gpu->from_host(vcd.get(), zeros.data(), cache_bytes);
      std::vector<uint8_t> kc(cache_bytes, 0), vc(cache_bytes, 0);
      cpu.rope(q.data(), n, hq, hd);
      cpu.rope(k.data(), n, hkv, hd);
      cpu.kv_store({kc.data(), vc.data(), kv}, k.data(), v.data(), n, kv_dim);
      gpu->rope_kv_store(qd.f32(), kd.f32(), vd.f32(), {kcd.get(), vcd.get(), kv}, n, hq, hkv, hd);
      EXPECT_LT(max_abs_diff(get(*gpu, qd, q.size()), q), 1e-5f);
      EXPECT_LT(max_abs_diff(get(*gpu, kd, k.size()), k), 1e-5f);
      std::vector<uint8_t> kg(cache_bytes), vg(cache_bytes);
      gpu->to_host(kg.data(), kcd.get(), cache_bytes);
      gpu->to_host(vg.data(), vcd.get(), cache_bytes);
      EXPECT_EQ(vg, vc) << dtype_name(kv);
      if (kv == DType::F32) {
        std::vector<float> kgf(kg.size() / 4), kcf(kc.size() / 4);
        std::memcpy(kgf.data(), kg.data(), kg.size());
        std::memcpy(kcf.data(), kc.data(), kc.size());
        EXPECT_LT(max_abs_diff(kgf, kcf), 1e-5f);
      }
    }
  }
}

TEST(CudaOps, AddRmsNormEqualsAddThenNorm) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  CpuBackend cpu(1);
  const int n = 3;
  const int64_t dim = 4096;
  HostTensor h = make_tensor(DType::F32, 1, dim, 9, /*vector=*/true);
  Weight wc = cpu.upload(h.view), wg = gpu->upload(h.view);
  auto x = random_vec(static_cast<size_t>(n * dim), 4, 3.0f);
  auto y = random_vec(static_cast<size_t>(n * dim), 5, 3.0f);
  DeviceBuffer xd = put(*gpu, x), yd = put(*gpu, y), out(gpu.get(), x.size() * sizeof(float));
  std::vector<float> want(x.size());
  cpu.add(x.data(), y.data(), x.size());
  cpu.rmsnorm(x.data(), wc, 1e-5f, n, want.data());
  gpu->add_rmsnorm(xd.f32(), yd.f32(), wg, 1e-5f, n, out.f32());
  EXPECT_EQ(get(*gpu, xd, x.size()), x);
  EXPECT_LT(max_abs_diff(get(*gpu, out, x.size()), want), 1e-5f * max_abs(want));
}

TEST(CudaOps, DeviceBandwidthIsMeasured) {
  HEARTH_REQUIRE_GPU();
  auto gpu = make_gpu();
  auto bw = gpu->device_bandwidth_gbs();
  ASSERT_TRUE(bw.has_value());
  EXPECT_GT(*bw, 0.0);
  std::printf("device copy bandwidth: %.0f GB/s\n", *bw);
}

TEST(CudaOps, AutoPicksTheGpu) {
  HEARTH_REQUIRE_GPU();
  BackendOptions o;
  o.device = "auto";
  EXPECT_EQ(make_backend(o)->name(), "cuda");
}

// ---- whole models against transformers' float32 logits ----

using hearth::testing::load_json;
using hearth::testing::max_abs_diff;  // the (const float*, vector) form, beside the one above
using hearth::testing::prompt_logit_diff;

EngineOptions gpu_opts() {
  EngineOptions o;
  o.device = "cuda";
  o.context = 256;
  o.max_batch_tokens = 64;
  o.kv_blocks = 96;  // the batched tests' 12 sequences besides one full context
  return o;
}

std::vector<int32_t> greedy(Engine& engine, const std::vector<int32_t>& prompt, int n) {
  Session s(engine.model(), engine.cache(), engine.context());
  std::vector<float> logits = s.feed(prompt);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    int32_t t = Sampler::argmax(logits.data(), engine.config().vocab_size);
    out.push_back(t);
    if (i + 1 < n) logits = s.feed({t});
  }
  return out;
}

// Greedy decoding as `hearth run --temp 0` does it: each step returns only the argmax id, found on
// the device.
std::vector<int32_t> greedy_on_device(Engine& engine, const std::vector<int32_t>& prompt, int n) {
  Session s(engine.model(), engine.cache(), engine.context());
  std::vector<int32_t> out;
  ResultRef ref = s.step(prompt, RowOutput::Argmax);
  for (int i = 0; i < n; ++i) {
    out.push_back(s.result().argmax.at(static_cast<size_t>(ref.index)));
    if (i + 1 < n) ref = s.step({&out.back(), 1}, RowOutput::Argmax);
  }
  return out;
}

// The bound of the issue: transformers' own float16 forward stays within 0.017 of float32 here.
constexpr float kModelTol = 2e-2f;

TEST(CudaModel, DevAEveryPositionOfEveryPrompt) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devA/reference.json");
  Engine engine(kData + "/devA", gpu_opts());
  ASSERT_EQ(engine.backend().name(), "cuda");
  for (auto& [name, prompt] : ref["prompts"].items()) {
    const float worst = prompt_logit_diff(engine, ref, name);
    EXPECT_LT(worst, kModelTol) << name;
    std::printf("cuda devA %s: max |diff| = %.3g over %zu positions\n", name.c_str(), worst,
                prompt.size());
  }
}

TEST(CudaModel, DevAGreedyContinuation) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devA/reference.json");
  Engine engine(kData + "/devA", gpu_opts());
  auto prompt = ref["prompts"]["p12"].get<std::vector<int32_t>>();
  auto expected = ref["greedy_p12_32"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(engine, prompt, static_cast<int>(expected.size())), expected);
}

TEST(CudaModel, DevAIncrementalDecodingEqualsFullForward) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devA/reference.json");
  auto ids = ref["prompts"]["p60"].get<std::vector<int32_t>>();
  Engine engine(kData + "/devA", gpu_opts());
  std::vector<float> full;
  {
    Session s(engine.model(), engine.cache(), engine.context());
    full = s.feed(ids, true);  // cuBLAS path
  }
  Session inc(engine.model(), engine.cache(), engine.context());
  std::vector<float> got = inc.feed({ids.begin(), ids.begin() + 7}, true);  // GEMV path
  for (size_t p = 7; p < ids.size(); ++p) {
    std::vector<float> step = inc.feed({ids[p]});
    got.insert(got.end(), step.begin(), step.end());
  }
  ASSERT_EQ(got.size(), full.size());
  EXPECT_LT(max_abs_diff(got.data(), full), 5e-3f);
}

// An engine on the GPU with decode steps captured as CUDA graphs or not.
std::unique_ptr<Engine> gpu_engine(const std::string& path, bool graphs) {
  const char* env = std::getenv("HEARTH_CUDA_GRAPHS");
  const std::string saved = env ? env : "";
  setenv("HEARTH_CUDA_GRAPHS", graphs ? "1" : "0", 1);
  auto e = std::make_unique<Engine>(path, gpu_opts());
  if (env)
    setenv("HEARTH_CUDA_GRAPHS", saved.c_str(), 1);  // as the whole run asked
  else
    unsetenv("HEARTH_CUDA_GRAPHS");
  return e;
}

// Logits of p60 fed as a 7-token prompt, then one token per step.
std::vector<float> incremental_logits(Engine& engine) {
  auto ref = load_json(kData + "/devA/reference.json");
  auto ids = ref["prompts"]["p60"].get<std::vector<int32_t>>();
  Session s(engine.model(), engine.cache(), engine.context());
  std::vector<float> got = s.feed({ids.begin(), ids.begin() + 7}, true);
  for (size_t p = 7; p < ids.size(); ++p) {
    std::vector<float> step = s.feed({ids[p]});
    got.insert(got.end(), step.begin(), step.end());
  }
  return got;
}

// nseq sequences decoding together, one token each per step (the server's decode steps), with
// the logits of every step.
std::vector<float> batched_decode_logits(Engine& engine, int steps, int nseq = 3) {
  KvCache& cache = engine.cache();
  const int64_t V = engine.config().vocab_size;
  std::vector<SequenceKv> seqs(static_cast<size_t>(nseq));
  std::vector<float> all;
  BatchBuilder builder(cache.block_size());
  StepResult result;
  for (int step = 0; step < steps; ++step) {
    builder.reset();
    for (int s = 0; s < nseq; ++s) {
      SequenceKv& sq = seqs[static_cast<size_t>(s)];
      EXPECT_TRUE(kv_reserve(cache, sq, 1));
      const int32_t token = static_cast<int32_t>((step * 7 + s * 13 + 1) % V);
      builder.add(sq, {&token, 1}, RowOutput::Logits);
    }
    engine.model().forward(builder.batch(), cache, result);
    all.insert(all.end(), result.logits.begin(), result.logits.end());
    for (auto& sq : seqs) ++sq.length;
  }
  for (auto& sq : seqs) kv_release(cache, sq);
  return all;
}

TEST(CudaModel, GraphReplayEqualsEagerDecoding) {
  HEARTH_REQUIRE_GPU();
  auto eager = gpu_engine(kData + "/devA", false);
  auto graphed = gpu_engine(kData + "/devA", true);
  // Replayed graphs launch the very kernels with the very arguments: bit-identical results.
  EXPECT_EQ(incremental_logits(*graphed), incremental_logits(*eager));
  // 70 steps: past 64 keys the attention splits change, so a capture stops matching and is
  // replaced, which must not change a result either.
  EXPECT_EQ(batched_decode_logits(*graphed, 70), batched_decode_logits(*eager, 70));
  // 12 sequences: past the GEMV's 8 tokens, the captured step holds cuBLAS calls.
  EXPECT_EQ(batched_decode_logits(*graphed, 20, 12), batched_decode_logits(*eager, 20, 12));
  const GraphStats g = *graphed->backend().graph_stats();
  EXPECT_TRUE(g.enabled) << g.off_reason;
  EXPECT_GT(g.captured, 0);
  EXPECT_GT(g.replayed, g.captured);  // steady decoding replays far more steps than it captures
  EXPECT_EQ(g.diverged, 0);
  EXPECT_FALSE(eager->backend().graph_stats()->enabled);
}

TEST(CudaModel, BatchedDecodeMatchesCpu) {
  HEARTH_REQUIRE_GPU();
  auto gpu = gpu_engine(kData + "/devA", true);
  EngineOptions o = gpu_opts();
  o.device = "cpu";
  Engine cpu(kData + "/devA", o);
  const std::vector<float> want = batched_decode_logits(cpu, 20);
  EXPECT_LT(max_abs_diff(batched_decode_logits(*gpu, 20).data(), want), 2e-3f);
}

TEST(CudaModel, DevAGreedyContinuationWithGraphs) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devA/reference.json");
  auto engine = gpu_engine(kData + "/devA", true);
  auto prompt = ref["prompts"]["p12"].get<std::vector<int32_t>>();
  auto expected = ref["greedy_p12_32"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(*engine, prompt, static_cast<int>(expected.size())), expected);
}

TEST(CudaModel, DevAGreedyContinuationFromDeviceArgmax) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devA/reference.json");
  auto prompt = ref["prompts"]["p12"].get<std::vector<int32_t>>();
  auto expected = ref["greedy_p12_32"].get<std::vector<int32_t>>();
  for (bool graphs : {false, true}) {
    auto engine = gpu_engine(kData + "/devA", graphs);
    EXPECT_EQ(greedy_on_device(*engine, prompt, static_cast<int>(expected.size())), expected)
        << (graphs ? "with" : "without") << " graphs";
  }
}

class CudaDevB : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaDevB, TextLastLogits) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devB/reference.json");
  Engine engine(kData + "/devB/" + GetParam(), gpu_opts());
  auto ids = ref["text_ids"].get<std::vector<int32_t>>();
  Session s(engine.model(), engine.cache(), engine.context());
  std::vector<float> logits = s.feed(ids);
  float d = max_abs_diff(logits.data(), ref["text_last_logits"].get<std::vector<float>>());
  EXPECT_LT(d, kModelTol);
  std::printf("cuda devB %s: text last-position max |diff| = %.3g\n", GetParam().c_str(), d);
}

TEST_P(CudaDevB, ChatGreedy20) {
  HEARTH_REQUIRE_GPU();
  auto ref = load_json(kData + "/devB/reference.json");
  Engine engine(kData + "/devB/" + GetParam(), gpu_opts());
  auto ids = ref["chat_ids"].get<std::vector<int32_t>>();
  auto expected = ref["chat_greedy_20"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(engine, ids, 20), expected);
}

INSTANTIATE_TEST_SUITE_P(CudaFormats, CudaDevB,
                         ::testing::Values(std::string(""), std::string("devB-bf16.gguf")),
                         [](const auto& info) {
                           return info.param.empty() ? "safetensors" : "gguf";
                         });

}  // namespace
}  // namespace hearth
