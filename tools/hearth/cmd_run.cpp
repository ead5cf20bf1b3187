// hearth run MODEL (--prompt TEXT | --tokens IDS): generate and stream to stdout.
#include <cstdio>
#include <string>

#include "command.h"
#include "engine_options.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "util/error.h"

namespace hearth::cli {
namespace {

struct RunOpts {
  std::string model;
  std::string prompt;
  std::string tokens;
  int n_predict = 128;
  bool ignore_eos = false;
  SamplingParams sampling;
  EngineOptions engine;
};

bool is_eos(const ModelConfig& c, int32_t t) {
  for (auto e : c.eos_ids)
    if (e == t) return true;
  return false;
}

int run_generate(RunOpts o) {
  if (o.n_predict < 0) throw Error("-n", "must be >= 0, got " + std::to_string(o.n_predict));
  validate_sampling(o.sampling);
  if (o.tokens.empty() && o.prompt.empty())
    throw Error("run", "give --tokens IDS or --prompt TEXT");
  if (!o.prompt.empty())
    throw Error("--prompt",
                "text prompts need the tokenizer, which this build lacks: use --tokens");
  std::vector<int32_t> ids = parse_token_list(o.tokens);
  Engine engine(o.model, o.engine);
  Session session(engine.model(), engine.cache(), engine.context());
  Sampler sampler(o.sampling);
  std::vector<float> logits = session.feed(ids);
  const int64_t V = engine.config().vocab_size;
  for (int i = 0; i < o.n_predict; ++i) {
    int32_t next = sampler.sample(logits.data(), V);
    std::printf("%s%d", i ? " " : "", next);
    std::fflush(stdout);
    if (!o.ignore_eos && is_eos(engine.config(), next)) break;
    if (i + 1 == o.n_predict) break;
    if (session.length() + 1 > engine.context()) {
      std::fprintf(stderr, "\nhearth: context of %d tokens is full, stopping\n", engine.context());
      break;
    }
    logits = session.feed({next});
  }
  std::printf("\n");
  return 0;
}

RegisterCommand reg("run", "Generate text from a prompt, streaming to stdout", [](CLI::App& app) {
  auto o = std::make_shared<RunOpts>();
  app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")->required();
  app.add_option("-p,--prompt", o->prompt, "Prompt text");
  app.add_option("--tokens", o->tokens, "Prompt as comma-separated token ids");
  app.add_option("-n,--n-predict", o->n_predict, "Tokens to generate")->capture_default_str();
  app.add_option("--temp", o->sampling.temperature, "Temperature (0: greedy)")
      ->capture_default_str();
  app.add_option("--top-k", o->sampling.top_k, "Top-k (0: off)")->capture_default_str();
  app.add_option("--top-p", o->sampling.top_p, "Top-p (1: off)")->capture_default_str();
  app.add_option("--min-p", o->sampling.min_p, "Min-p (0: off)")->capture_default_str();
  app.add_option("--seed", o->sampling.seed, "Random seed")->capture_default_str();
  app.add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-sequence tokens");
  add_engine_options(app, o->engine);
  return [o] { return run_generate(*o); };
});

}  // namespace
}  // namespace hearth::cli
