// Loading hostile or broken model files: every case is one clear hearth::Error naming the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "format/checkpoint.h"
#include "runtime/engine.h"
#include "runtime/session.h"
#include "support/tiny_models.h"
#include "util/error.h"

namespace hearth {
namespace {

using ::testing::HasSubstr;
using namespace hearth::testing;

// Expects open + model construction to fail with a hearth::Error whose one line has `what`.
void expect_load_error(const std::string& path, const std::string& what) {
  try {
    EngineOptions o;
    o.threads = 1;
    o.context = 16;
    Engine e(path, o);
    ADD_FAILURE() << "loaded without error: " << path;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr(what)) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
  }
}

TEST(ModelFiles, TinyGgufLoadsAndRuns) {
  TempDir d;
  TinyShape s;
  write_bytes(d.file("m.gguf"), tiny_gguf_bytes(s, make_tiny_tensors(s)));
  EngineOptions o;
  o.context = 16;
  Engine e(d.file("m.gguf"), o);
  Session sess(e.model(), e.cache(), e.context());
  auto logits = sess.feed({1, 2, 3});
  ASSERT_EQ(logits.size(), 32u);
  for (float x : logits) EXPECT_TRUE(std::isfinite(x));
}

TEST(ModelFiles, MissingAndEmptyFiles) {
  TempDir d;
  expect_load_error(d.file("nope.gguf"), "nope.gguf: no such file or directory");
  write_text(d.file("empty.gguf"), "");
  expect_load_error(d.file("empty.gguf"), "empty.gguf: file is empty");
}

TEST(ModelFiles, WrongMagic) {
  TempDir d;
  write_text(d.file("x.gguf"), "GGML this is not gguf at all, just text");
  expect_load_error(d.file("x.gguf"), "bad magic");
}

TEST(ModelFiles, UnsupportedVersion) {
  TempDir d;
  TinyShape s;
  auto b = tiny_gguf_bytes(s, make_tiny_tensors(s));
  b[4] = 1;  // version 1 (little-endian u32 at offset 4)
  write_bytes(d.file("v1.gguf"), b);
  expect_load_error(d.file("v1.gguf"), "unsupported GGUF version 1");
}

TEST(ModelFiles, EveryTruncationIsACleanError) {
  TempDir d;
  TinyShape s;
  auto full = tiny_gguf_bytes(s, make_tiny_tensors(s));
  // Every prefix of the header and a spread of prefixes through the data.
  std::vector<size_t> cuts;
  for (size_t n = 1; n < 2048 && n < full.size(); ++n) cuts.push_back(n);
  for (size_t n = 2048; n < full.size(); n += 97) cuts.push_back(n);
  cuts.push_back(full.size() - 1);
  const std::string path = d.file("t.gguf");
  for (size_t n : cuts) {
    write_bytes(path, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(n)));
    try {
      GgufFile g(path);
      Checkpoint ck = open_checkpoint(path);
      ADD_FAILURE() << "prefix of " << n << " bytes loaded";
    } catch (const Error& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr(path)) << "cut " << n;
    }
  }
}

TEST(ModelFiles, CorruptedHeaderBytesNeverCrash) {
  TempDir d;
  TinyShape s;
  auto full = tiny_gguf_bytes(s, make_tiny_tensors(s));
  std::mt19937 rng(1234);
  const std::string path = d.file("c.gguf");
  int errors = 0;
  for (int iter = 0; iter < 400; ++iter) {
    auto b = full;
    for (int k = 0; k < 3; ++k) b[rng() % 1500] = static_cast<uint8_t>(rng());
    write_bytes(path, b);
    try {
      EngineOptions o;
      o.threads = 1;
      o.context = 16;
      Engine e(path, o);
      Session sess(e.model(), e.cache(), e.context());
      sess.feed({1, 2});
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(ModelFiles, TensorBeyondEndOfFile) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  GgufWriter w;
  tiny_gguf_metadata(w, s);
  for (auto& [name, st] : tt.t)
    if (name != "output.weight")
      w.add_tensor(name, DType::BF16, st.first, st.second.data(), st.second.size() * 2);
  // Written last, claiming its full shape with only half its bytes present.
  auto& out = tt.t.at("output.weight");
  w.add_tensor("output.weight", DType::BF16, out.first, out.second.data(), out.second.size());
  auto bytes = w.to_bytes();
  bytes.resize(bytes.size() - w.alignment());  // drop the padding that would hide it
  write_bytes(d.file("short.gguf"), bytes);
  expect_load_error(d.file("short.gguf"), "extends beyond the end of the file");
}

TEST(ModelFiles, OverlappingTensors) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  GgufWriter w;
  tiny_gguf_metadata(w, s);
  for (auto& [name, st] : tt.t) {
    // output.weight claims its full shape but only half its bytes are laid out: it runs into
    // the next tensor's data.
    size_t bytes = st.second.size() * 2;
    if (name == "output.weight") bytes /= 2;
    w.add_tensor(name, DType::BF16, st.first, st.second.data(), bytes);
  }
  write_bytes(d.file("overlap.gguf"), w.to_bytes());
  expect_load_error(d.file("overlap.gguf"), "overlaps tensor");
}

TEST(ModelFiles, DuplicateTensor) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  GgufWriter w;
  tiny_gguf_metadata(w, s);
  for (auto& [name, st] : tt.t)
    w.add_tensor(name, DType::BF16, st.first, st.second.data(), st.second.size() * 2);
  auto& q = tt.t.at("blk.0.attn_q.weight");
  w.add_tensor("blk.0.attn_q.weight", DType::BF16, q.first, q.second.data(), q.second.size() * 2);
  write_bytes(d.file("dup.gguf"), w.to_bytes());
  expect_load_error(d.file("dup.gguf"), "duplicate tensor 'blk.0.attn_q.weight'");
}

TEST(ModelFiles, MissingTensor) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  tt.t.erase("blk.0.ffn_up.weight");
  write_bytes(d.file("miss.gguf"), tiny_gguf_bytes(s, tt));
  expect_load_error(d.file("miss.gguf"), "missing tensor 'blk.0.ffn_up.weight'");
}

TEST(ModelFiles, ShapeContradictsMetadata) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  auto& q = tt.t.at("blk.0.attn_q.weight");
  q.first = {s.heads * s.head_dim / 2, s.hidden * 2};  // same bytes, wrong shape
  write_bytes(d.file("shape.gguf"), tiny_gguf_bytes(s, tt));
  expect_load_error(
      d.file("shape.gguf"),
      "tensor 'blk.0.attn_q.weight' has shape [8, 32], expected [16, 16] from the GGUF metadata");
}

TEST(ModelFiles, UnknownAndUnsupportedTensorTypes) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  for (auto [id, name] : {std::pair<uint32_t, std::string>{99, "type 99"}, {13, "Q5_K"}}) {
    GgufWriter w;
    tiny_gguf_metadata(w, s);
    for (auto& [tn, st] : tt.t) {
      DType t = tn == "output.weight" ? static_cast<DType>(id) : DType::BF16;
      w.add_tensor(tn, t, st.first, st.second.data(), st.second.size() * 2);
    }
    write_bytes(d.file("u.gguf"), w.to_bytes());
    expect_load_error(d.file("u.gguf"), "unsupported type " + name + " in tensor 'output.weight'");
  }
}

TEST(ModelFiles, MissingMetadataKey) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  for (auto& [name, st] : tt.t)
    w.add_tensor(name, DType::BF16, st.first, st.second.data(), st.second.size() * 2);
  write_bytes(d.file("nokey.gguf"), w.to_bytes());
  expect_load_error(d.file("nokey.gguf"), "missing metadata key 'llama.embedding_length'");
}

TEST(ModelFiles, ArrayLengthLargerThanFile) {
  TempDir d;
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_i32_array("some.array", {1, 2, 3});
  auto b = w.to_bytes();
  // The array count sits right after the element type of the last key; make it enormous.
  const std::string key = "some.array";
  auto it = std::search(b.begin(), b.end(), key.begin(), key.end());
  size_t count_at = static_cast<size_t>(it - b.begin()) + key.size() + 4 + 4;
  uint64_t huge = uint64_t{1} << 60;
  std::memcpy(b.data() + count_at, &huge, 8);
  write_bytes(d.file("arr.gguf"), b);
  expect_load_error(d.file("arr.gguf"), "more than the file holds");
}

// --- Hugging Face checkpoints ---

void write_hf(const std::string& dir, const TinyShape& s, const TinyTensors& tt) {
  write_text(dir + "/config.json", tiny_config(s).dump());
  write_bytes(dir + "/model.safetensors", safetensors_bytes(tt));
}

TEST(HfFiles, TinyCheckpointLoads) {
  TempDir d;
  TinyShape s;
  write_hf(d.str(), s, make_tiny_tensors(s));
  Checkpoint ck = open_checkpoint(d.str());
  EXPECT_EQ(ck.config.eos_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ck.config.head_dim, 8);
  EXPECT_EQ(ck.tensors.size(), 12u);
}

TEST(HfFiles, ShardedCheckpointEqualsSingleFile) {
  TempDir one, two;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  write_hf(one.str(), s, tt);
  TinyTensors a, b;
  nlohmann::json map;
  int i = 0;
  for (auto& [name, st] : tt.t) {
    bool first = (i++ % 2) == 0;
    (first ? a : b).t[name] = st;
    map[hf_name(name)] =
        first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_text(two.file("config.json"), tiny_config(s).dump());
  write_bytes(two.file("model-00001-of-00002.safetensors"), safetensors_bytes(a));
  write_bytes(two.file("model-00002-of-00002.safetensors"), safetensors_bytes(b));
  write_text(two.file("model.safetensors.index.json"), nlohmann::json{{"weight_map", map}}.dump());
  EngineOptions o;
  o.context = 16;
  Engine e1(one.str(), o), e2(two.str(), o);
  Session s1(e1.model(), e1.cache(), 16), s2(e2.model(), e2.cache(), 16);
  EXPECT_EQ(s1.feed({3, 1, 4, 1, 5}, true), s2.feed({3, 1, 4, 1, 5}, true));
}

// The same weights stored as F32 and F16 (bf16 values are exact in f32; the tiny weights are
// exact in f16 too) give the same logits as BF16.
TEST(HfFiles, F32AndF16SafetensorsMatchBf16) {
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  auto logits_for = [&](const std::string& dtype) {
    TempDir d;
    nlohmann::json header = nlohmann::json::object();
    std::vector<uint8_t> data;
    for (auto& [name, st] : tt.t) {
      size_t begin = data.size();
      for (uint16_t h : st.second) {
        float f = bf16_to_f32(h);
        if (dtype == "F32") {
          uint8_t b[4];
          std::memcpy(b, &f, 4);
          data.insert(data.end(), b, b + 4);
        } else if (dtype == "F16") {
          uint16_t x = f32_to_f16(f);
          data.push_back(static_cast<uint8_t>(x & 0xff));
          data.push_back(static_cast<uint8_t>(x >> 8));
        } else {
          data.push_back(static_cast<uint8_t>(h & 0xff));
          data.push_back(static_cast<uint8_t>(h >> 8));
        }
      }
      header[hf_name(name)] = {
          {"dtype", dtype}, {"shape", st.first}, {"data_offsets", {begin, data.size()}}};
    }
    write_text(d.file("config.json"), tiny_config(s).dump());
    write_bytes(d.file("model.safetensors"), safetensors_from_parts(header.dump(), data));
    EngineOptions o;
    o.context = 16;
    Engine e(d.str(), o);
    Session sess(e.model(), e.cache(), 16);
    return sess.feed({1, 5, 9, 2}, true);
  };
  auto bf16 = logits_for("BF16");
  auto f32 = logits_for("F32");
  auto f16 = logits_for("F16");
  ASSERT_EQ(bf16.size(), f32.size());
  for (size_t i = 0; i < bf16.size(); ++i) {
    EXPECT_NEAR(f32[i], bf16[i], 1e-5);
    EXPECT_NEAR(f16[i], bf16[i], 2e-3);  // f16 rounds the bf16 values' low mantissa bits
  }
}

TEST(HfFiles, DuplicateAcrossShards) {
  TempDir d;
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  nlohmann::json map;
  for (auto& [name, st] : tt.t) map[hf_name(name)] = "a.safetensors";
  map["model.norm.weight"] = "b.safetensors";
  TinyTensors only_norm;
  only_norm.t["output_norm.weight"] = tt.t.at("output_norm.weight");
  write_text(d.file("config.json"), tiny_config(s).dump());
  write_bytes(d.file("a.safetensors"), safetensors_bytes(tt));
  // b's tensor list names a tensor a.safetensors also holds; the index assigns it to b only, so
  // craft the conflict directly: both shards claim model.norm.weight in the weight map's files.
  write_bytes(d.file("b.safetensors"), safetensors_bytes(only_norm));
  map["model.norm.weight"] = "a.safetensors";
  nlohmann::json idx{{"weight_map", map}};
  write_text(d.file("model.safetensors.index.json"), idx.dump());
  // Valid as written: now duplicate by listing b's file for another name that b also has.
  Checkpoint ok = open_checkpoint(d.str());
  EXPECT_EQ(ok.tensors.size(), 12u);
  map["model.norm.weight"] = "b.safetensors";
  map["lm_head.weight"] = "a.safetensors";
  write_text(d.file("model.safetensors.index.json"), nlohmann::json{{"weight_map", map}}.dump());
  // Same name assigned to one shard only can never duplicate; a single file listing a name twice
  // can.
  std::string st =
      "{\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
      "\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}";
  write_bytes(d.file("b.safetensors"), safetensors_from_parts(st, {0, 0}));
  expect_load_error(d.str(), "duplicate tensor 'model.norm.weight'");
}

TEST(HfFiles, SafetensorsCorruptions) {
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  auto good = safetensors_bytes(tt);
  uint64_t hlen;
  std::memcpy(&hlen, good.data(), 8);
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expect;
  };
  std::vector<Case> cases;
  {
    auto b = good;
    b.resize(b.size() - 10);
    cases.push_back({"truncated data", b, "extend beyond the end of the file"});
  }
  {
    auto b = good;
    uint64_t huge = 1ull << 40;
    std::memcpy(b.data(), &huge, 8);
    cases.push_back({"header length", b, "header length"});
  }
  {
    auto b = good;
    b[8 + hlen - 1] = ' ';  // the closing brace
    cases.push_back({"header not json", b, "not valid JSON"});
  }
  {
    auto b = std::vector<uint8_t>(good.begin(), good.begin() + 5);
    cases.push_back({"tiny file", b, "too short"});
  }
  {
    std::string h(reinterpret_cast<const char*>(good.data() + 8), hlen);
    auto pos = h.find("\"BF16\"");
    h.replace(pos, 6, "\"I64\" ");
    auto b = good;
    std::memcpy(b.data() + 8, h.data(), h.size());
    cases.push_back({"dtype", b, "unsupported dtype I64"});
  }
  for (auto& c : cases) {
    TempDir d;
    write_text(d.file("config.json"), tiny_config(s).dump());
    write_bytes(d.file("model.safetensors"), c.bytes);
    SCOPED_TRACE(c.name);
    expect_load_error(d.str(), c.expect);
    expect_load_error(d.str(), "model.safetensors");
  }
}

TEST(HfFiles, ConfigProblems) {
  TinyShape s;
  auto tt = make_tiny_tensors(s);
  struct Case {
    std::string config;
    std::string expect;
  };
  auto without = [&](const std::string& key) {
    auto j = tiny_config(s);
    j.erase(key);
    return j.dump();
  };
  auto with = [&](const std::string& key, nlohmann::json v) {
    auto j = tiny_config(s);
    j[key] = v;
    return j.dump();
  };
  std::vector<Case> cases = {
      {"{not json", "config.json: not valid JSON"},
      {"[1,2]", "expected a JSON object"},
      {without("hidden_size"), "missing key 'hidden_size'"},
      {with("num_hidden_layers", -1), "'num_hidden_layers' must be a positive integer"},
      {with("num_key_value_heads", 3), "multiple of num_key_value_heads"},
      {with("eos_token_id", "x"), "eos_token_id must be an integer"},
      {with("model_type", "mistral"), "model_type 'mistral' is not supported"},
      {with("hidden_size", 32), "expected [32, 32] from config.json"},
  };
  for (auto& c : cases) {
    TempDir d;
    write_text(d.file("config.json"), c.config);
    write_bytes(d.file("model.safetensors"), safetensors_bytes(tt));
    SCOPED_TRACE(c.config);
    expect_load_error(d.str(), c.expect);
  }
}

TEST(HfFiles, DirectoryWithoutWeights) {
  TempDir d;
  TinyShape s;
  write_text(d.file("config.json"), tiny_config(s).dump());
  expect_load_error(d.str(), "no model.safetensors");
  TempDir e;
  expect_load_error(e.str(), "config.json is missing");
}

TEST(Session, RejectsOutOfRangeTokensAndContextOverflow) {
  TempDir d;
  TinyShape s;
  write_bytes(d.file("m.gguf"), tiny_gguf_bytes(s, make_tiny_tensors(s)));
  EngineOptions o;
  o.context = 8;
  Engine e(d.file("m.gguf"), o);
  Session sess(e.model(), e.cache(), e.context());
  EXPECT_THROW(sess.feed({1, 32}), Error);
  EXPECT_THROW(sess.feed({-1}), Error);
  EXPECT_EQ(sess.length(), 0);
  sess.feed({1, 2, 3, 4, 5});
  try {
    sess.feed({1, 2, 3, 4});
    ADD_FAILURE();
  } catch (const Error& err) {
    EXPECT_THAT(std::string(err.what()), HasSubstr("exceed the context size of 8"));
  }
  EXPECT_EQ(sess.length(), 5);  // the failed feed appended nothing
}

}  // namespace
}  // namespace hearth
