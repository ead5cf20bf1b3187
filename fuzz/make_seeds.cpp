// Writes the generated part of the seed corpora (fuzz/corpus/<target>/gen-*) from the fixtures:
// a tiny GGUF model with tokenizer metadata, the same model as safetensors + config.json, and a
// small tokenizer.json cut from the bundled Llama 3.1 one. Rerun after a format change:
//   build/fuzz/hearth_fuzz_make_seeds tests/data fuzz/corpus
// The hand-written seeds beside them are committed as they are.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "format/gguf_writer.h"
#include "support/tiny_models.h"
#include "tokenizer/gguf_metadata.h"
#include "tokenizer/load.h"
#include "util/read_file.h"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

constexpr std::string_view kSep = "\n--hearth-fuzz-file--\n";

void put(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::cout << p.string() << " (" << bytes.size() << " bytes)\n";
}

std::string str(const std::vector<uint8_t>& b) {
  return std::string(b.begin(), b.end());
}

// The bundled tokenizer.json cut to its first `keep` tokens (the 256 bytes and early merges)
// and three special tokens renumbered right after them.
std::string small_tokenizer_json(const std::string& data_dir, int keep) {
  ordered_json j = ordered_json::parse(hearth::read_file(data_dir + "/llama31/tokenizer.json"));
  auto& model = j["model"];
  ordered_json vocab = ordered_json::object();
  for (auto& [k, v] : model["vocab"].items())
    if (v.get<int>() < keep) vocab[k] = v;
  ordered_json merges = ordered_json::array();
  for (auto& m : model["merges"]) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      a = s.substr(0, s.find(' '));
      b = s.substr(s.find(' ') + 1);
    } else {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
  }
  model["vocab"] = vocab;
  model["merges"] = merges;
  ordered_json added = ordered_json::array();
  int id = keep;
  for (const char* name : {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"})
    added.push_back({{"id", id++},
                     {"content", name},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  j["added_tokens"] = added;
  return j.dump(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: hearth_fuzz_make_seeds TESTS_DATA_DIR CORPUS_DIR\n";
    return 2;
  }
  const std::string data = argv[1];
  const fs::path out = argv[2];
  using namespace hearth::testing;
  const TinyShape shape;
  const TinyTensors tensors = make_tiny_tensors(shape);

  const std::string tok_json = small_tokenizer_json(data, 300);
  const std::string tok_config =
      R"({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "add_bos_token": true})";
  const hearth::TokenizerSpec spec =
      hearth::tokenizer_spec_from_hf_json_text(tok_json, "tokenizer.json", tok_config, "config");

  // GGUF: the tiny model, and the tiny model with tokenizer metadata.
  put(out / "gguf/gen-tiny-model.gguf", str(tiny_gguf_bytes(shape, tensors)));
  hearth::GgufWriter w;
  tiny_gguf_metadata(w, shape);
  hearth::add_tokenizer_metadata(w, spec);
  for (auto& [name, st] : tensors.t)
    w.add_tensor(name, hearth::DType::BF16, st.first, st.second.data(), st.second.size() * 2);
  const std::string with_tok = str(w.to_bytes());
  put(out / "gguf/gen-tiny-model-tokenizer.gguf", with_tok);

  // safetensors + config.json.
  put(out / "safetensors/gen-tiny-model",
      tiny_config(shape).dump(1) + std::string(kSep) + str(safetensors_bytes(tensors)));
  put(out / "safetensors/gen-devA-config",
      hearth::read_file(data + "/devA/config.json") + std::string(kSep) +
          str(safetensors_from_parts(R"({"__metadata__":{"format":"pt"}})", {})));

  // Tokenizer loaders: byte 0 even = tokenizer.json pair, odd = GGUF.
  put(out / "tokenizer_load/gen-small-tokenizer-json",
      std::string(1, '\0') + tok_json + std::string(kSep) + tok_config);
  put(out / "tokenizer_load/gen-small-tokenizer-json-no-config", std::string(1, '\2') + tok_json);
  hearth::GgufWriter tw;
  hearth::add_tokenizer_metadata(tw, spec);
  put(out / "tokenizer_load/gen-small-tokenizer.gguf", std::string(1, '\1') + str(tw.to_bytes()));

  // Chat: the conversations fixture, one seed per conversation.
  const ordered_json conv =
      ordered_json::parse(hearth::read_file(data + "/chat/conversations.json"));
  int n = 0;
  auto add_conv = [&](const ordered_json& c) {
    const std::string name = "chat/gen-conversation-" + std::to_string(n++);
    put(out / name, std::string(1, static_cast<char>(n * 2 % 32)) + c.dump());
  };
  if (conv.is_array())
    for (auto& c : conv) add_conv(c);
  else
    for (auto& [k, c] : conv.items()) add_conv(c);
  return 0;
}
