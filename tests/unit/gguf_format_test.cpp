// GGUF metadata of every value type, written by our writer and read back by our reader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "support/tiny_models.h"
#include "util/error.h"

namespace hearth {
namespace {

using namespace hearth::testing;

GgufValue scalar(GgufType t, int64_t i, double f = 0) {
  GgufValue v;
  v.type = t;
  v.i = i;
  v.u = static_cast<uint64_t>(i);
  v.f = f;
  return v;
}

TEST(GgufFormat, EveryValueTypeRoundTrips) {
  TempDir d;
  GgufWriter w;
  w.set("u8", scalar(GgufType::UINT8, 250));
  w.set("i8", scalar(GgufType::INT8, -100));
  w.set("u16", scalar(GgufType::UINT16, 65000));
  w.set("i16", scalar(GgufType::INT16, -30000));
  w.set("u32", scalar(GgufType::UINT32, 4000000000));
  w.set("i32", scalar(GgufType::INT32, -2000000000));
  w.set("u64", scalar(GgufType::UINT64, int64_t{1} << 50));
  w.set("i64", scalar(GgufType::INT64, -(int64_t{1} << 50)));
  w.set("f32", scalar(GgufType::FLOAT32, 0, 1.5));
  w.set("f64", scalar(GgufType::FLOAT64, 0, 1e-300));
  w.set_bool("bool", true);
  w.set_string("str", std::string("h\xc3\xa9llo\0x", 8));
  w.set_string_array("strs", {"a", "", "ccc"});
  w.set_i32_array("ints", {-1, 0, 7});
  w.set_f32_array("floats", {0.25f, -2.0f});
  GgufValue nested;
  nested.type = GgufType::ARRAY;
  nested.elem_type = GgufType::ARRAY;
  GgufValue inner;
  inner.type = GgufType::ARRAY;
  inner.elem_type = GgufType::UINT8;
  inner.ints = {1, 2, 3};
  nested.arrays = {inner, inner};
  w.set("nested", nested);
  w.set_u32("general.alignment", 64);
  std::vector<float> data(64, 1.0f);
  w.add_tensor("t", DType::F32, {4, 16}, data.data(), data.size() * 4);
  w.write(d.file("all.gguf"));

  GgufFile g(d.file("all.gguf"));
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.get_int("u8"), 250);
  EXPECT_EQ(g.get_int("i8"), -100);
  EXPECT_EQ(g.get_int("u16"), 65000);
  EXPECT_EQ(g.get_int("i16"), -30000);
  EXPECT_EQ(g.get_int("u32"), 4000000000);
  EXPECT_EQ(g.get_int("i32"), -2000000000);
  EXPECT_EQ(g.get_int("u64"), int64_t{1} << 50);
  EXPECT_EQ(g.get_int("i64"), -(int64_t{1} << 50));
  EXPECT_EQ(g.get_float("f32"), 1.5);
  EXPECT_EQ(g.get_float("f64"), 1e-300);
  EXPECT_TRUE(g.get_bool("bool"));
  EXPECT_EQ(g.get_string("str"), std::string("h\xc3\xa9llo\0x", 8));
  EXPECT_EQ(g.get_string_array("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(g.get_int_array("ints"), (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(g.get_float_array("floats"), (std::vector<double>{0.25, -2.0}));
  ASSERT_EQ(g.find("nested")->arrays.size(), 2u);
  EXPECT_EQ(g.find("nested")->arrays[1].ints, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(g.tensors().size(), 1u);
  EXPECT_EQ(g.tensors()[0].shape, (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(g.tensors()[0].data) % 64, 0u);
}

TEST(GgufFormat, TypedGettersNameTheKeyOnMismatch) {
  TempDir d;
  GgufWriter w;
  w.set_string("s", "x");
  w.set_i32("n", 3);
  w.write(d.file("g.gguf"));
  GgufFile g(d.file("g.gguf"));
  try {
    g.get_int("s");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                ::testing::HasSubstr("metadata key 's' has type string, expected an integer"));
  }
  EXPECT_THROW(g.get_string("n"), Error);
  EXPECT_THROW(g.get_string_array("n"), Error);
  try {
    g.get_int("absent");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("missing metadata key 'absent'"));
  }
}

TEST(GgufFormat, RejectsBadAlignmentAndDuplicateKeys) {
  TempDir d;
  {
    GgufWriter w;
    w.set_u32("general.alignment", 48);
    auto b = w.to_bytes();
    write_bytes(d.file("a.gguf"), b);
    EXPECT_THROW(GgufFile(d.file("a.gguf")), Error);
  }
  {
    // Duplicate key: build the bytes by hand.
    std::vector<uint8_t> b = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    auto u64 = [&](uint64_t v) {
      for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    auto u32 = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    u64(0);
    u64(2);
    for (int k = 0; k < 2; ++k) {
      u64(1);
      b.push_back('k');
      u32(static_cast<uint32_t>(GgufType::UINT8));
      b.push_back(7);
    }
    write_bytes(d.file("dup.gguf"), b);
    try {
      GgufFile g(d.file("dup.gguf"));
      FAIL();
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("duplicate metadata key 'k'"));
    }
  }
}

}  // namespace
}  // namespace hearth
