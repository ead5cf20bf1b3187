#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace hearth::cli {

std::vector<int32_t> stop_ids(const ModelConfig& cfg, const Tokenizer* tok) {
  std::vector<int32_t> ids;
  for (auto e : cfg.eos_ids) ids.push_back(static_cast<int32_t>(e));
  if (tok) ids.insert(ids.end(), tok->eos_ids().begin(), tok->eos_ids().end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Generated generate_to_stdout(Engine& engine, Session& session, const std::vector<int32_t>& prompt,
                             const GenerateOptions& o, const Tokenizer* tok,
                             const std::vector<int32_t>& stops) {
  Generated g;
  Sampler sampler(o.sampling);
  std::optional<StreamDecoder> dec;
  if (tok && o.echo) dec.emplace(*tok, /*skip_special=*/true);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::vector<float> logits = session.feed(prompt);
  const auto t1 = Clock::now();
  g.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  const int64_t V = engine.config().vocab_size;
  for (int i = 0; i < o.n_predict; ++i) {
    int32_t next = sampler.sample(logits.data(), V);
    const bool is_stop = std::find(stops.begin(), stops.end(), next) != stops.end();
    if (is_stop && !o.ignore_eos) {
      g.stopped = true;
      break;
    }
    g.tokens.push_back(next);
    if (dec) {
      std::string piece = dec->push(next);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else if (o.echo) {
      std::printf("%s%d", i ? " " : "", next);
    }
    if (o.echo) std::fflush(stdout);
    if (i + 1 == o.n_predict) break;
    if (session.length() + 1 > engine.context()) {
      std::fprintf(stderr, "\nhearth: context of %d tokens is full, stopping\n", engine.context());
      break;
    }
    logits = session.feed({next});
    g.fed.push_back(next);
  }
  g.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  if (dec) {
    std::string tail = dec->flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
  }
  if (o.echo) {
    std::printf("\n");
    std::fflush(stdout);
  }
  return g;
}

}  // namespace hearth::cli
