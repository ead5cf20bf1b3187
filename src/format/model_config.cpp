#include "format/model_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"
#include "util/read_file.h"

namespace hearth {

const char* rope_scaling_name(RopeScaling s) {
  switch (s) {
    case RopeScaling::None:
      return "none";
    case RopeScaling::Llama3:
      return "llama3";
    case RopeScaling::Linear:
      return "linear";
  }
  return "?";
}

namespace {

int64_t get_int(const std::string& path, const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) throw Error(path, std::string("missing key '") + key + "'");
  const auto& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    throw Error(path, std::string("key '") + key + "' must be a positive integer");
  return v.get<int64_t>();
}

double get_num(const std::string& path, const nlohmann::json& j, const char* key, double dflt) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_number()) throw Error(path, std::string("key '") + key + "' must be a number");
  return j[key].get<double>();
}

}  // namespace

ModelConfig parse_hf_config(const std::string& path) {
  nlohmann::json j;
  const std::string text = read_file(path);
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw Error(path, "expected a JSON object");

  ModelConfig c;
  if (j.contains("model_type") && j["model_type"].is_string()) {
    c.arch = j["model_type"].get<std::string>();
    if (c.arch != "llama")
      throw Error(path, "model_type '" + c.arch + "' is not supported (hearth runs llama)");
  }
  if (j.contains("_name_or_path") && j["_name_or_path"].is_string())
    c.name = j["_name_or_path"].get<std::string>();
  c.vocab_size = get_int(path, j, "vocab_size");
  c.hidden = get_int(path, j, "hidden_size");
  c.intermediate = get_int(path, j, "intermediate_size");
  c.n_layers = get_int(path, j, "num_hidden_layers");
  c.n_heads = get_int(path, j, "num_attention_heads");
  c.n_kv_heads =
      j.contains("num_key_value_heads") ? get_int(path, j, "num_key_value_heads") : c.n_heads;
  if (j.contains("head_dim") && !j["head_dim"].is_null())
    c.head_dim = get_int(path, j, "head_dim");
  else if (c.hidden % c.n_heads == 0)
    c.head_dim = c.hidden / c.n_heads;
  else
    throw Error(path,
                "hidden_size is not a multiple of num_attention_heads and head_dim is absent");
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error(path, "num_attention_heads must be a multiple of num_key_value_heads");
  if (c.head_dim % 2 != 0) throw Error(path, "head_dim must be even for RoPE");
  c.max_position =
      j.contains("max_position_embeddings") ? get_int(path, j, "max_position_embeddings") : 8192;
  c.rms_eps = get_num(path, j, "rms_norm_eps", 1e-5);
  c.rope_theta = get_num(path, j, "rope_theta", 10000.0);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& rs = j["rope_scaling"];
    if (!rs.is_object()) throw Error(path, "rope_scaling must be an object");
    std::string type;
    if (rs.contains("rope_type") && rs["rope_type"].is_string())
      type = rs["rope_type"];
    else if (rs.contains("type") && rs["type"].is_string())
      type = rs["type"];
    if (type == "llama3") {
      c.rope_scaling = RopeScaling::Llama3;
      c.rope_factor = get_num(path, rs, "factor", 8.0);
      c.rope_low_freq_factor = get_num(path, rs, "low_freq_factor", 1.0);
      c.rope_high_freq_factor = get_num(path, rs, "high_freq_factor", 4.0);
      c.rope_original_max_position =
          static_cast<int64_t>(get_num(path, rs, "original_max_position_embeddings", 8192));
      if (c.rope_high_freq_factor <= c.rope_low_freq_factor || c.rope_factor <= 0)
        throw Error(path, "rope_scaling: invalid llama3 factors");
    } else if (type == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = get_num(path, rs, "factor", 1.0);
    } else if (type != "default" && !type.empty()) {
      throw Error(path, "rope_scaling type '" + type + "' is not supported");
    }
  }
  c.tie_embeddings = j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean() &&
                     j["tie_word_embeddings"].get<bool>();
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_id = j["bos_token_id"].get<int64_t>();
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer())
      c.eos_ids.push_back(e.get<int64_t>());
    else if (e.is_array()) {
      for (auto& x : e) {
        if (!x.is_number_integer()) throw Error(path, "eos_token_id list holds a non-integer");
        c.eos_ids.push_back(x.get<int64_t>());
      }
    } else if (!e.is_null()) {
      throw Error(path, "eos_token_id must be an integer or a list of integers");
    }
  }
  return c;
}

}  // namespace hearth
