#include "runtime/engine.h"

#include <algorithm>

#include "runtime/session.h"
#include "util/error.h"

namespace hearth {

Engine::Engine(const std::string& model_path, const EngineOptions& opts)
    : ck_(open_checkpoint(model_path)) {
  if (opts.context < 0) throw Error("--ctx", "must be positive");
  if (opts.threads < 0) throw Error("--threads", "must be >= 0");
  const int64_t model_max = ck_.config.max_position;
  int64_t ctx = opts.context > 0 ? opts.context : std::min<int64_t>(model_max, 4096);
  if (ctx > model_max)
    throw Error("--ctx", std::to_string(ctx) + " exceeds the model's maximum context of " +
                             std::to_string(model_max));
  context_ = static_cast<int>(ctx);
  backend_ = make_backend({opts.device, opts.threads});
  model_ = std::make_unique<LlamaModel>(ck_, *backend_, opts.max_batch_tokens);
  int blocks = opts.kv_blocks > 0 ? opts.kv_blocks : blocks_for_context(context_, opts.block_size);
  cache_ =
      std::make_unique<KvCache>(*backend_, ck_.config, blocks, opts.block_size, kv_dtype(opts));
}

DType kv_dtype(const EngineOptions& o) {
  if (o.kv_type == "f32") return DType::F32;
  if (o.kv_type == "f16") return DType::F16;
  if (o.kv_type == "bf16") return DType::BF16;
  throw Error("--kv-type", "unknown type '" + o.kv_type + "' (expected f32, f16 or bf16)");
}

}  // namespace hearth
