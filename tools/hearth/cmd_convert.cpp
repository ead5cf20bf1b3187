// hearth convert HF_DIR OUT.gguf and hearth quantize IN OUT: one export path, two spellings
// (llama.cpp users know both).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "model/gguf_export.h"
#include "util/error.h"

namespace hearth::cli {
namespace {

struct ConvertOpts {
  std::string in, out, type;
  int threads = 0;
  bool quiet = false, json = false;
};

int run_export(const ConvertOpts& o, const char* default_type) {
  std::string tname = o.type.empty() ? default_type : o.type;
  auto t = parse_export_type(tname);
  if (!t)
    throw Error("--type",
                "unknown type '" + tname + "' (expected f32, f16, bf16, q8_0, q4_0 or q4_k_m)");
  ExportOptions eo;
  eo.type = *t;
  eo.threads = o.threads;
  eo.quiet = o.quiet || o.json || !stdout_is_tty();
  size_t bytes = export_checkpoint(o.in, o.out, eo);
  if (o.json) {
    nlohmann::json j{
        {"input", o.in}, {"output", o.out}, {"type", export_type_name(*t)}, {"bytes", bytes}};
    std::printf("%s\n", j.dump().c_str());
  } else if (!o.quiet) {
    std::printf("wrote %s (%s, %.2f MiB)\n", o.out.c_str(), export_type_name(*t),
                bytes / 1048576.0);
  }
  return 0;
}

Setup setup_for(const char* default_type, const char* in_help) {
  return [=](CLI::App& app) {
    auto o = std::make_shared<ConvertOpts>();
    app.add_option("IN", o->in, in_help)->required();
    app.add_option("OUT", o->out, "Output GGUF file")->required();
    app.add_option("--type", o->type, "f32, f16, bf16, q8_0, q4_0 or q4_k_m")
        ->default_str(default_type);
    app.add_option("-t,--threads", o->threads, "Threads (0: all cores)");
    app.add_flag("-q,--quiet", o->quiet, "No progress output");
    app.add_flag("--json", o->json, "Print the result as JSON");
    return [o, default_type] { return run_export(*o, default_type); };
  };
}

RegisterCommand reg_convert(
    "convert", "Convert a Hugging Face checkpoint (or GGUF) to GGUF, llama.cpp-compatible",
    setup_for("bf16", "Hugging Face checkpoint directory or GGUF file"));
RegisterCommand reg_quantize("quantize", "Quantize a model to GGUF: q8_0, q4_0 or q4_k_m",
                             setup_for("q8_0", "GGUF file or Hugging Face checkpoint directory"));

}  // namespace
}  // namespace hearth::cli
