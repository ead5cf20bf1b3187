#pragma once
// Options every model-running subcommand shares, declared once so their spelling never drifts.
#include <CLI/CLI.hpp>

#include "runtime/engine.h"

namespace hearth::cli {

inline void add_engine_options(CLI::App& app, EngineOptions& o) {
  app.add_option("--device", o.device, "cpu, cuda or auto")->capture_default_str();
  app.add_option("-t,--threads", o.threads, "Worker threads (0: all cores)")->capture_default_str();
  app.add_option("-c,--ctx", o.context, "Context size in tokens (0: min(model max, 4096))")
      ->capture_default_str();
  app.add_option("--batch", o.max_batch_tokens, "Tokens per forward step (prompt chunk size)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  app.add_option("--kv-type", o.kv_type,
                 "KV cache element type: f32, f16 (half the memory) or bf16 (CUDA only)")
      ->capture_default_str();
  app.add_flag("--mmap", o.mmap_weights,
               "CPU: read the weights from the file mapping instead of copying them into memory "
               "(less memory, slower decoding)");
}

}  // namespace hearth::cli
