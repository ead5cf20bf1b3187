// How far each quantized type moves devA's next-token distribution from transformers' float32
// one: mean KL(P_f32 || P_quant) over every position of p12 and p60. Printed for the notes; the
// bounds only catch a broken path (an unquantized model scores ~1e-10 here).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "model/gguf_export.h"
#include "runtime/engine.h"
#include "runtime/session.h"
#include "support/run_command.h"
#include "support/tiny_models.h"

namespace hearth {
namespace {

using namespace hearth::testing;
const std::string kData = HEARTH_TEST_DATA;

std::vector<double> log_softmax(const float* l, size_t n) {
  double mx = *std::max_element(l, l + n), s = 0;
  for (size_t i = 0; i < n; ++i) s += std::exp(l[i] - mx);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = l[i] - mx - std::log(s);
  return out;
}

double mean_kl(ExportType type) {
  TempDir d;
  ExportOptions o;
  o.type = type;
  o.quiet = true;
  export_checkpoint(kData + "/devA", d.file("q.gguf"), o);
  EngineOptions eo;
  eo.context = 128;
  Engine e(d.file("q.gguf"), eo);
  auto ref = nlohmann::json::parse(slurp(kData + "/devA/reference.json"));
  double kl = 0;
  int count = 0;
  for (const char* name : {"p12", "p60"}) {
    auto ids = ref["prompts"][name].get<std::vector<int32_t>>();
    Session s(e.model(), e.cache(), e.context());
    auto q = s.feed(ids, true);
    for (size_t p = 0; p < ids.size(); ++p) {
      auto f = ref["logits"][name][p].get<std::vector<float>>();
      auto lp = log_softmax(f.data(), f.size());
      auto lq = log_softmax(q.data() + p * f.size(), f.size());
      double k = 0;
      for (size_t i = 0; i < f.size(); ++i) k += std::exp(lp[i]) * (lp[i] - lq[i]);
      kl += k;
      ++count;
    }
  }
  return kl / count;
}

TEST(QuantAccuracy, KlDivergenceAgainstFloat32) {
  const double bf16 = mean_kl(ExportType::BF16);
  const double q8 = mean_kl(ExportType::Q8_0);
  const double q4km = mean_kl(ExportType::Q4_K_M);
  const double q4 = mean_kl(ExportType::Q4_0);
  std::printf(
      "devA mean KL(f32 || type) over 72 positions: bf16 %.2e, q8_0 %.2e, q4_k_m %.2e, q4_0 %.2e\n",
      bf16, q8, q4km, q4);
  EXPECT_LT(bf16, 1e-8);
  EXPECT_LT(q8, 5e-3);
  EXPECT_LT(q4km, 0.15);  // measured 0.062
  EXPECT_LT(q4, 0.2);     // measured 0.089
  EXPECT_LT(q8, q4km);    // more bits, closer
  EXPECT_LT(q4km, q4);    // K-quants' sub-block scales and mins beat one scale per 32
}

}  // namespace
}  // namespace hearth
