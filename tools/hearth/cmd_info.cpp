// hearth info MODEL: what the file holds, without running it.
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "command.h"
#include "format/checkpoint.h"

namespace hearth::cli {
namespace {

struct InfoOpts {
  std::string model;
  bool json = false;
};

bool tokenizer_present(const Checkpoint& ck) {
  if (ck.format == CheckpointFormat::Gguf) return ck.gguf->has("tokenizer.ggml.tokens");
  return std::filesystem::exists(std::filesystem::path(ck.path) / "tokenizer.json");
}

int run_info(const InfoOpts& o) {
  Checkpoint ck = open_checkpoint(o.model);
  const ModelConfig& c = ck.config;
  std::map<std::string, int> dtypes;
  int64_t params = 0;
  for (auto& [_, t] : ck.tensors) {
    dtypes[dtype_name(t.dtype)]++;
    params += t.numel();
  }
  nlohmann::ordered_json j;
  j["model"] = o.model;
  j["format"] = ck.format_name();
  j["architecture"] = c.arch;
  if (!c.name.empty()) j["name"] = c.name;
  j["parameters"] = params;
  j["size_bytes"] = ck.weight_bytes();
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden;
  j["intermediate_size"] = c.intermediate;
  j["layers"] = c.n_layers;
  j["heads"] = c.n_heads;
  j["kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["context_length"] = c.max_position;
  j["rms_norm_eps"] = c.rms_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = rope_scaling_name(c.rope_scaling);
  if (c.rope_scaling == RopeScaling::Llama3 && ck.rope_freq_factors.empty()) {
    j["rope_factor"] = c.rope_factor;
    j["rope_low_freq_factor"] = c.rope_low_freq_factor;
    j["rope_high_freq_factor"] = c.rope_high_freq_factor;
    j["rope_original_context"] = c.rope_original_max_position;
  }
  j["rope_layout"] = ck.rope_layout == RopeLayout::Halves ? "halves" : "interleaved";
  j["tied_embeddings"] = c.tie_embeddings;
  j["tensor_types"] = dtypes;
  j["tensors"] = ck.tensors.size();
  j["tokenizer"] = tokenizer_present(ck);
  j["bos_token_id"] = c.bos_id;
  j["eos_token_ids"] = c.eos_ids;
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  for (auto& [k, v] : j.items()) {
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    std::printf("%-22s %s\n", k.c_str(), s.c_str());
  }
  return 0;
}

RegisterCommand reg("info", "Show a model's architecture, sizes, types and tokenizer",
                    [](CLI::App& app) {
                      auto o = std::make_shared<InfoOpts>();
                      app.add_option("MODEL", o->model,
                                     "GGUF file or Hugging Face checkpoint directory")
                          ->required();
                      app.add_flag("--json", o->json, "Print one JSON object");
                      return [o] { return run_info(*o); };
                    });

}  // namespace
}  // namespace hearth::cli
