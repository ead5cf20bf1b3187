#include "model/gguf_export.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "format/gguf_writer.h"
#include "model/rope.h"
#include "quant/quantize.h"
#include "tokenizer/gguf_metadata.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"

namespace hearth {

std::optional<ExportType> parse_export_type(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "f32") return ExportType::F32;
  if (s == "f16") return ExportType::F16;
  if (s == "bf16") return ExportType::BF16;
  if (s == "q8_0") return ExportType::Q8_0;
  if (s == "q4_0") return ExportType::Q4_0;
  if (s == "q4_k_m" || s == "q4_k") return ExportType::Q4_K_M;
  return std::nullopt;
}

const char* export_type_name(ExportType t) {
  switch (t) {
    case ExportType::F32:
      return "f32";
    case ExportType::F16:
      return "f16";
    case ExportType::BF16:
      return "bf16";
    case ExportType::Q8_0:
      return "q8_0";
    case ExportType::Q4_0:
      return "q4_0";
    case ExportType::Q4_K_M:
      return "q4_k_m";
  }
  return "?";
}

namespace {

uint32_t gguf_file_type(ExportType t) {
  switch (t) {
    case ExportType::F32:
      return 0;
    case ExportType::F16:
      return 1;
    case ExportType::Q4_0:
      return 2;
    case ExportType::Q8_0:
      return 7;
    case ExportType::Q4_K_M:
      return 15;
    case ExportType::BF16:
      return 32;
  }
  return 0;
}

// llama.cpp's rule for which layers of a Q4_K_M model keep more bits.
bool use_more_bits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

int64_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::stoll(name.substr(4, name.find('.', 4) - 4));
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

DType export_tensor_type(ExportType type, const std::string& name, int64_t n_layers, int64_t cols) {
  if (ends_with(name, "_norm.weight") || name == "rope_freqs.weight") return DType::F32;
  DType t = DType::BF16;
  switch (type) {
    case ExportType::F32:
      return DType::F32;
    case ExportType::F16:
      return DType::F16;
    case ExportType::BF16:
      return DType::BF16;
    case ExportType::Q8_0:
      t = DType::Q8_0;
      break;
    case ExportType::Q4_0:
      t = name == "output.weight" ? DType::Q6_K : DType::Q4_0;
      break;
    case ExportType::Q4_K_M: {
      t = DType::Q4_K;
      if (name == "output.weight") t = DType::Q6_K;
      int64_t l = layer_of(name);
      if ((ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight")) && l >= 0 &&
          use_more_bits(l, n_layers))
        t = DType::Q6_K;
      break;
    }
  }
  // A row length the block does not divide falls back as llama.cpp does: Q8_0, else F16.
  if (cols % dtype_info(t).block_size != 0) t = cols % 32 == 0 ? DType::Q8_0 : DType::F16;
  return t;
}

std::vector<ExportTensor> tensors_from_checkpoint(const Checkpoint& ck) {
  std::vector<ExportTensor> out;
  const ModelConfig& c = ck.config;
  const bool permute = ck.rope_layout == RopeLayout::Halves;  // HF -> llama.cpp's layout
  for (const auto& [name, tv] : ck.tensors) {
    ExportTensor e;
    e.name = name;
    e.shape = tv.shape;
    const int64_t cols = tv.shape.back();
    const size_t row_bytes = dtype_row_bytes(tv.dtype, cols);
    const uint8_t* data = tv.data;
    const DType dt = tv.dtype;
    int64_t heads = 0;
    if (permute && ends_with(name, "attn_q.weight")) heads = c.n_heads;
    if (permute && ends_with(name, "attn_k.weight")) heads = c.n_kv_heads;
    const int64_t hd = c.head_dim;
    e.row_f32 = [=](int64_t row, float* dst) {
      int64_t src = row;
      if (heads) {  // new row (h, 2i + j) comes from old row (h, j * hd/2 + i)
        int64_t h = row / hd, r = row % hd;
        src = h * hd + (r % 2) * (hd / 2) + r / 2;
      }
      quant::dequantize_row(dt, data + static_cast<size_t>(src) * row_bytes, dst, cols);
    };
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = seed ^ 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

}  // namespace

std::vector<ExportTensor> random_tensors(const ModelConfig& c, uint64_t seed) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {
      {"token_embd.weight", {c.vocab_size, c.hidden}}, {"output_norm.weight", {c.hidden}}};
  if (!c.tie_embeddings) specs.push_back({"output.weight", {c.vocab_size, c.hidden}});
  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    specs.push_back({p + "attn_norm.weight", {c.hidden}});
    specs.push_back({p + "attn_q.weight", {q, c.hidden}});
    specs.push_back({p + "attn_k.weight", {kv, c.hidden}});
    specs.push_back({p + "attn_v.weight", {kv, c.hidden}});
    specs.push_back({p + "attn_output.weight", {c.hidden, q}});
    specs.push_back({p + "ffn_norm.weight", {c.hidden}});
    specs.push_back({p + "ffn_gate.weight", {c.intermediate, c.hidden}});
    specs.push_back({p + "ffn_up.weight", {c.intermediate, c.hidden}});
    specs.push_back({p + "ffn_down.weight", {c.hidden, c.intermediate}});
  }
  std::vector<ExportTensor> out;
  for (auto& [name, shape] : specs) {
    ExportTensor e;
    e.name = name;
    e.shape = shape;
    const uint64_t base = hash_name(name, seed);
    const bool norm = ends_with(name, "_norm.weight");
    // Uniform with the standard deviation of a trained layer's weights (~0.02), so activations
    // stay in a realistic range; norms near 1.
    const float scale = norm ? 0.1f : 0.02f * std::sqrt(3.0f);
    const int64_t cols = shape.back();
    e.row_f32 = [=](int64_t row, float* dst) {
      uint64_t s = base + static_cast<uint64_t>(row) * 0x632be59bd9b4e019ull;
      for (int64_t i = 0; i < cols; ++i) {
        float u = static_cast<float>(splitmix(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
        dst[i] = (norm ? 1.0f : 0.0f) + scale * u;
      }
    };
    out.push_back(std::move(e));
  }
  return out;
}

size_t write_llama_gguf(const std::string& out_path, const ModelConfig& c,
                        const std::vector<ExportTensor>& tensors, const ExportOptions& o,
                        const std::vector<float>& given_factors) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.type", "model");
  w.set_string("general.name", o.name.empty() ? (c.name.empty() ? "llama" : c.name) : o.name);
  w.set_u32("general.file_type", gguf_file_type(o.type));
  w.set_u32("general.quantization_version", 2);
  w.set_u32("llama.context_length", static_cast<uint32_t>(c.max_position));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(c.hidden));
  w.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.intermediate));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.set_u32("llama.attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32("llama.attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.set_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_eps));
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
  if (c.rope_scaling == RopeScaling::Linear) {
    w.set_string("llama.rope.scaling.type", "linear");
    w.set_f32("llama.rope.scaling.factor", static_cast<float>(c.rope_factor));
  }
  if (o.tokenizer)
    add_tokenizer_metadata(w, *o.tokenizer);
  else if (!o.tokenizer_source.empty())
    add_tokenizer_metadata(w, o.tokenizer_source);

  // llama3 scaling travels as per-frequency divisors, as llama.cpp's converter writes it.
  std::vector<float> factors = given_factors;
  if (factors.empty() && c.rope_scaling == RopeScaling::Llama3) {
    // float32 throughout, as llama.cpp's converter computes it with torch: the file is then
    // bit-identical to what it writes.
    const float old_ctx = static_cast<float>(c.rope_original_max_position);
    const float low = static_cast<float>(c.rope_low_freq_factor);
    const float high = static_cast<float>(c.rope_high_freq_factor);
    const float factor = static_cast<float>(c.rope_factor);
    const float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    for (int64_t i = 0; i < c.head_dim / 2; ++i) {
      const float expo = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
      const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta), expo);
      const float wavelen = static_cast<float>(2.0 * M_PI) / freq;
      float f = 1.0f;
      if (wavelen > low_wavelen) {
        f = factor;
      } else if (!(wavelen < high_wavelen)) {
        const float smooth = (old_ctx / wavelen - low) / (high - low);
        f = 1.0f / ((1.0f - smooth) / factor + smooth);
      }
      factors.push_back(f);
    }
  }
  if (!factors.empty()) {
    w.add_tensor("rope_freqs.weight", DType::F32, {static_cast<int64_t>(factors.size())},
                 factors.data(), factors.size() * sizeof(float));
  }

  ThreadPool pool(o.threads > 0 ? o.threads : default_thread_count());
  for (const auto& t : tensors) {
    if (t.name == "rope_freqs.weight") continue;
    const int64_t cols = t.shape.back();
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < t.shape.size(); ++d) rows *= t.shape[d];
    const DType type = export_tensor_type(o.type, t.name, c.n_layers, cols);
    const size_t row_bytes = dtype_row_bytes(type, cols);
    const ExportTensor* src = &t;
    w.add_tensor_lazy(
        t.name, type, t.shape, row_bytes * static_cast<size_t>(rows), [=, &pool](uint8_t* dst) {
          pool.parallel_for(static_cast<size_t>(rows), [&](size_t r0, size_t r1, int) {
            std::vector<float> buf(static_cast<size_t>(cols));
            for (size_t r = r0; r < r1; ++r) {
              src->row_f32(static_cast<int64_t>(r), buf.data());
              quant::quantize_row(type, buf.data(), dst + r * row_bytes, cols);
            }
          });
        });
  }
  Progress progress("writing " + std::filesystem::path(out_path).filename().string(), o.quiet);
  w.on_progress([&](size_t done, size_t total) { progress.update(done, total); });
  w.write(out_path);
  progress.finish();
  return static_cast<size_t>(std::filesystem::file_size(out_path));
}

size_t export_checkpoint(const std::string& in_path, const std::string& out_path,
                         ExportOptions opts) {
  Checkpoint ck = open_checkpoint(in_path);
  std::error_code ec;
  if (std::filesystem::exists(out_path, ec) && std::filesystem::equivalent(in_path, out_path, ec))
    throw Error(out_path, "is the input file; write to another path");
  if (opts.name.empty() && ck.config.name.empty())
    opts.name = std::filesystem::path(in_path).filename().string();
  if (opts.tokenizer_source.empty()) {
    bool has = ck.format == CheckpointFormat::Gguf
                   ? ck.gguf->has("tokenizer.ggml.tokens")
                   : std::filesystem::exists(std::filesystem::path(in_path) / "tokenizer.json");
    if (has) opts.tokenizer_source = in_path;
  }
  // A GGUF input's rope_freqs.weight is carried over as is; an HF input's is computed.
  return write_llama_gguf(out_path, ck.config, tensors_from_checkpoint(ck), opts,
                          ck.rope_freq_factors);
}

std::vector<std::string> model_shape_names() {
  return {"llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-1b", "llama-3.2-3b"};
}

std::optional<ModelConfig> model_shape(const std::string& name) {
  ModelConfig c;
  c.vocab_size = 128256;
  c.max_position = 131072;
  c.rms_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = RopeScaling::Llama3;
  c.rope_factor = 8.0;
  c.rope_low_freq_factor = 1.0;
  c.rope_high_freq_factor = 4.0;
  c.rope_original_max_position = 8192;
  c.bos_id = 128000;
  c.eos_ids = {128001, 128008, 128009};
  c.n_kv_heads = 8;
  c.head_dim = 128;
  if (name == "llama-3.1-8b") {
    c.hidden = 4096, c.intermediate = 14336, c.n_layers = 32, c.n_heads = 32;
  } else if (name == "llama-3.1-70b") {
    c.hidden = 8192, c.intermediate = 28672, c.n_layers = 80, c.n_heads = 64;
  } else if (name == "llama-3.1-405b") {
    c.hidden = 16384, c.intermediate = 53248, c.n_layers = 126, c.n_heads = 128;
  } else if (name == "llama-3.2-1b") {
    c.hidden = 2048, c.intermediate = 8192, c.n_layers = 16, c.n_heads = 32, c.head_dim = 64;
    c.rope_factor = 32.0;
    c.tie_embeddings = true;
  } else if (name == "llama-3.2-3b") {
    c.hidden = 3072, c.intermediate = 8192, c.n_layers = 28, c.n_heads = 24;
    c.rope_factor = 32.0;
    c.tie_embeddings = true;
  } else {
    return std::nullopt;
  }
  c.name = name;
  return c;
}

}  // namespace hearth
