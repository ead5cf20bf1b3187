// hearth synth --shape NAME --type T OUT.gguf: a random-weight model of a released shape with the
// real Llama 3.1 tokenizer, for benchmarks where weights cannot be downloaded.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "model/gguf_export.h"
#include "tokenizer/builtin_llama31.h"
#include "util/error.h"

namespace hearth::cli {
namespace {

struct SynthOpts {
  std::string shape, type = "bf16", out, tokenizer;
  uint64_t seed = 1;
  int64_t layers = 0;
  int threads = 0;
  bool quiet = false, json = false;
};

int run_synth(const SynthOpts& o) {
  auto cfg = model_shape(o.shape);
  if (!cfg) {
    std::string names;
    for (auto& n : model_shape_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("--shape", "unknown shape '" + o.shape + "' (expected one of " + names + ")");
  }
  if (o.layers < 0) throw Error("--layers", "must be positive");
  if (o.layers > 0) cfg->n_layers = o.layers;
  auto t = parse_export_type(o.type);
  if (!t)
    throw Error("--type",
                "unknown type '" + o.type + "' (expected f32, f16, bf16, q8_0, q4_0 or q4_k_m)");
  ExportOptions eo;
  eo.type = *t;
  eo.threads = o.threads;
  eo.quiet = o.quiet || o.json;
  eo.name = o.shape + "-synthetic";
  eo.tokenizer_source = o.tokenizer;
  if (eo.tokenizer_source.empty())
    eo.tokenizer = std::make_shared<TokenizerSpec>(builtin_llama31_tokenizer_spec());
  size_t bytes = write_llama_gguf(o.out, *cfg, random_tensors(*cfg, o.seed), eo);
  if (o.json) {
    nlohmann::json j{
        {"output", o.out}, {"shape", o.shape}, {"type", export_type_name(*t)}, {"bytes", bytes}};
    std::printf("%s\n", j.dump().c_str());
  } else if (!o.quiet) {
    std::printf("wrote %s (%s %s, %.2f GiB)\n", o.out.c_str(), o.shape.c_str(),
                export_type_name(*t), bytes / 1073741824.0);
  }
  return 0;
}

RegisterCommand reg(
    "synth", "Write a random-weight model of a released Llama shape (for benchmarks)",
    [](CLI::App& app) {
      auto o = std::make_shared<SynthOpts>();
      app.add_option("OUT", o->out, "Output GGUF file")->required();
      app.add_option("--shape", o->shape,
                     "llama-3.1-8b, llama-3.1-70b, llama-3.1-405b, llama-3.2-1b, llama-3.2-3b")
          ->required();
      app.add_option("--type", o->type, "f32, f16, bf16, q8_0, q4_0 or q4_k_m")
          ->capture_default_str();
      app.add_option("--seed", o->seed, "Random seed")->capture_default_str();
      app.add_option("--layers", o->layers, "Override the layer count (smaller test models)");
      app.add_option("--tokenizer", o->tokenizer,
                     "Tokenizer source: GGUF file or directory with tokenizer.json (default: the "
                     "built-in Llama 3.1 tokenizer)");
      app.add_option("-t,--threads", o->threads, "Threads (0: all cores)");
      app.add_flag("-q,--quiet", o->quiet, "No progress output");
      app.add_flag("--json", o->json, "Print the result as JSON");
      return [o] { return run_synth(*o); };
    });

}  // namespace
}  // namespace hearth::cli
