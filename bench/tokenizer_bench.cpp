// Tokenizer throughput on one core: encode and decode of English prose (targets: encode
// >= 10 MB/s, decode >= 50 MB/s), plus the multilingual corpus and load time for reference.
#include <benchmark/benchmark.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"

namespace hearth {
namespace {

std::string slurp(const std::string& rel) {
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Tokenizer& llama31() {
  static const Tokenizer tok =
      tokenizer_from_hf_json(std::string(HEARTH_TEST_DATA) + "/llama31/tokenizer.json",
                             std::string(HEARTH_TEST_DATA) + "/llama31/tokenizer_config.json");
  return tok;
}

// About 1 MB of English prose (the same essay repeated).
const std::string& english() {
  static const std::string text = [] {
    std::string one = slurp("tokenizer/english_prose.txt"), all;
    while (all.size() < (1 << 20)) all += one;
    return all;
  }();
  return text;
}

const std::string& multilingual() {
  static const std::string text = [] {
    std::string all;
    for (const auto& e : nlohmann::json::parse(slurp("tokenizer/corpus.json")))
      all += e["text"].get<std::string>() + "\n";
    return all;
  }();
  return text;
}

void BM_TokenizerEncodeEnglish(benchmark::State& state) {
  const Tokenizer& tok = llama31();
  const std::string& text = english();
  size_t n = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text, true, false);
    n = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n);
}
BENCHMARK(BM_TokenizerEncodeEnglish)->Unit(benchmark::kMillisecond);

void BM_TokenizerEncodeMultilingual(benchmark::State& state) {
  const Tokenizer& tok = llama31();
  const std::string& text = multilingual();
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text, false, true).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizerEncodeMultilingual)->Unit(benchmark::kMillisecond);

void BM_TokenizerDecodeEnglish(benchmark::State& state) {
  const Tokenizer& tok = llama31();
  const std::vector<int32_t> ids = tok.encode(english(), false, false);
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * english().size()));
}
BENCHMARK(BM_TokenizerDecodeEnglish)->Unit(benchmark::kMillisecond);

void BM_TokenizerStreamDecodeEnglish(benchmark::State& state) {
  const Tokenizer& tok = llama31();
  const std::vector<int32_t> ids = tok.encode(english(), false, false);
  for (auto _ : state) {
    StreamDecoder stream(tok);
    size_t bytes = 0;
    for (int32_t id : ids) bytes += stream.push(id).size();
    bytes += stream.flush().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * english().size()));
}
BENCHMARK(BM_TokenizerStreamDecodeEnglish)->Unit(benchmark::kMillisecond);

void BM_TokenizerLoadHfJson(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(
        tokenizer_from_hf_json(std::string(HEARTH_TEST_DATA) + "/llama31/tokenizer.json", "")
            .vocab_size());
}
BENCHMARK(BM_TokenizerLoadHfJson)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace hearth
