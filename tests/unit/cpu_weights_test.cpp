// Where the CPU backend keeps the weights: copied into memory it owns (the default) or read
// where the file is mapped (--mmap). Both must give the very same results.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "runtime/engine.h"
#include "runtime/session.h"
#include "support/reference_logits.h"

namespace hearth {
namespace {

const std::string kData = HEARTH_TEST_DATA;

TensorView view_of(std::vector<uint8_t>& bytes, int64_t rows, int64_t cols) {
  TensorView t;
  t.name = "blk.0.attn_q.weight";
  t.dtype = DType::F32;
  t.shape = {rows, cols};
  t.data = bytes.data();
  t.nbytes = bytes.size();
  t.file = "cpu_weights_test";
  return t;
}

TEST(CpuWeights, CopiedIntoOwnMemoryUnlessMapped) {
  const int64_t rows = 300, cols = 1024;  // 1.2 MB: the copy is split between threads
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * cols) * 4);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  const TensorView t = view_of(bytes, rows, cols);
  {
    CpuBackend copied(2);
    const Weight w = copied.upload(t);
    EXPECT_NE(w.data, t.data);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u);
    EXPECT_EQ(std::memcmp(w.data, bytes.data(), bytes.size()), 0);
  }
  CpuBackend mapped(2, /*mmap_weights=*/true);
  EXPECT_EQ(mapped.upload(t).data, t.data);
}

std::vector<float> all_logits(bool mmap) {
  auto ref = hearth::testing::load_json(kData + "/devA/reference.json");
  EngineOptions o;
  o.context = 128;
  o.max_batch_tokens = 16;  // the 60-token prompt in chunks: GEMM and GEMV paths both
  o.mmap_weights = mmap;
  Engine engine(kData + "/devA", o);
  Session s(engine.model(), engine.cache(), engine.context());
  return s.feed(ref["prompts"]["p60"].get<std::vector<int32_t>>(), true);
}

TEST(CpuWeights, CopiedAndMappedWeightsGiveIdenticalLogits) {
  const std::vector<float> copied = all_logits(false), mapped = all_logits(true);
  ASSERT_FALSE(copied.empty());
  EXPECT_EQ(copied, mapped);
}

}  // namespace
}  // namespace hearth
