#include "runtime/engine.h"

#include <algorithm>

#include "parallel/world.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace hearth {

Engine::Engine(const std::string& model_path, const EngineOptions& opts)
    : Engine(open_checkpoint(model_path), opts) {}

Engine::Engine(Checkpoint ck, const EngineOptions& opts) : ck_(std::move(ck)) {
  if (opts.threads < 0) throw Error("--threads", "must be >= 0");
  context_ = engine_context(ck_.config, opts);
  backend_ = make_backend({opts.device, opts.threads, opts.mmap_weights});
  model_ = std::make_unique<LlamaModel>(ck_, *backend_, opts.max_batch_tokens, parallel::world());
  int blocks = opts.kv_blocks > 0 ? opts.kv_blocks : blocks_for_context(context_, opts.block_size);
  // Under tensor parallelism each rank holds its own KV heads, in blocks numbered as rank 0's.
  cache_ = std::make_unique<KvCache>(*backend_, model_->local_config(), blocks, opts.block_size,
                                     kv_dtype(opts));
  cache_->pool().set_caching(opts.prefix_cache);
  // Ranks other than 0 run rank 0's steps here and never return to the command that built them.
  if (model_->comm() && model_->comm()->rank() != 0)
    throw parallel::WorkerExit{model_->run_worker(*cache_)};
}

int default_context(const ModelConfig& cfg) {
  return static_cast<int>(std::min<int64_t>(cfg.max_position, kDefaultMaxContext));
}

int engine_context(const ModelConfig& cfg, const EngineOptions& o) {
  if (o.context < 0) throw Error("--ctx", "must be positive");
  if (o.context == 0) return default_context(cfg);
  if (o.context > cfg.max_position)
    throw Error("--ctx", std::to_string(o.context) + " exceeds the model's maximum context of " +
                             std::to_string(cfg.max_position));
  return o.context;
}

std::vector<int32_t> end_of_sequence_ids(const ModelConfig& cfg, const Tokenizer* tok) {
  std::vector<int32_t> ids;
  for (int64_t e : cfg.eos_ids) ids.push_back(static_cast<int32_t>(e));
  if (tok) ids.insert(ids.end(), tok->eos_ids().begin(), tok->eos_ids().end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

DType kv_dtype(const EngineOptions& o) {
  if (o.kv_type == "f32") return DType::F32;
  if (o.kv_type == "f16") return DType::F16;
  if (o.kv_type == "bf16") return DType::BF16;
  throw Error("--kv-type", "unknown type '" + o.kv_type + "' (expected f32, f16 or bf16)");
}

}  // namespace hearth
