#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "runtime/generation.h"
#include "util/error.h"

namespace hearth::cli {
namespace {

// "ID=BIAS[,ID=BIAS...]", e.g. "128009=-100,15339=2.5": the API's logit_bias object as a flag.
std::vector<std::pair<int32_t, float>> parse_logit_bias(const std::string& text) {
  std::vector<std::pair<int32_t, float>> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    size_t used_id = 0, used_bias = 0;
    long long id = -1;
    double bias = 0;
    try {
      if (eq != std::string::npos) {
        id = std::stoll(item.substr(0, eq), &used_id);
        bias = std::stod(item.substr(eq + 1), &used_bias);
      }
    } catch (const std::exception&) {
      used_id = used_bias = 0;
    }
    if (eq == std::string::npos || used_id != eq || used_bias != item.size() - eq - 1 ||
        used_id == 0 || used_bias == 0)
      throw Error("--logit-bias", "'" + item + "' is not ID=BIAS (e.g. 128009=-100)");
    if (!(bias >= -100 && bias <= 100))
      throw Error("--logit-bias", "bias " + item.substr(eq + 1) + " is not between -100 and 100");
    if (id < 0 || id > INT32_MAX)
      throw Error("--logit-bias", "token id " + item.substr(0, eq) + " is out of range");
    out.push_back({static_cast<int32_t>(id), static_cast<float>(bias)});
    start = end + 1;
  }
  return out;
}

}  // namespace

void add_generate_options(CLI::App& app, GenerateOptions& o) {
  app.add_option("-n,--n-predict", o.n_predict, "Tokens to generate")->capture_default_str();
  app.add_option("--temp", o.sampling.temperature, "Temperature (0: greedy)")
      ->capture_default_str();
  app.add_option("--top-k", o.sampling.top_k, "Top-k (0: off)")->capture_default_str();
  app.add_option("--top-p", o.sampling.top_p, "Top-p (1: off)")->capture_default_str();
  app.add_option("--min-p", o.sampling.min_p, "Min-p (0: off)")->capture_default_str();
  app.add_option("--seed", o.sampling.seed, "Random seed")->capture_default_str();
  app.add_option("--presence-penalty", o.presence_penalty,
                 "Subtracted once from each token already generated (as the API's field)")
      ->capture_default_str()
      ->check(CLI::Range(-2.0f, 2.0f));
  app.add_option("--frequency-penalty", o.frequency_penalty,
                 "Subtracted per occurrence in the generated tokens (as the API's field)")
      ->capture_default_str()
      ->check(CLI::Range(-2.0f, 2.0f));
  app.add_option("--repeat-penalty", o.repeat_penalty,
                 "Divides positive, multiplies negative logits of the last 64 tokens (1: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.01f, 10.0f));
  app.add_option("--logit-bias", o.logit_bias_text,
                 "Token biases as ID=BIAS,... (BIAS in -100..100; -100 bans a token)");
  app.add_option("--response-format", o.response_format,
                 "text, or json_object: the output is one valid JSON object (grammar-constrained)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json_object"}));
  app.add_flag("--ignore-eos", o.ignore_eos, "Keep generating past end-of-sequence tokens");
}

void check_options(GenerateOptions& o) {
  if (o.n_predict < 0) throw Error("-n", "must be >= 0, got " + std::to_string(o.n_predict));
  validate_sampling(o.sampling);
  if (!o.logit_bias_text.empty()) o.logit_bias = parse_logit_bias(o.logit_bias_text);
}

void prepare(GenerateOptions& o, const Engine& engine, const Tokenizer* tok,
             const std::vector<int32_t>& end_ids) {
  const int64_t vocab = engine.config().vocab_size;
  for (auto [id, bias] : o.logit_bias)
    if (id >= vocab)
      throw Error("--logit-bias", "token id " + std::to_string(id) +
                                      " is not in this model's vocabulary (0.." +
                                      std::to_string(vocab - 1) + ")");
  if (o.response_format == "json_object") {
    if (!tok) throw Error("--response-format", "json_object needs the model's tokenizer");
    o.json_vocab = JsonVocab::from_tokenizer(*tok, end_ids);
  }
}

Generated generate_to_stdout(Engine& engine, Session& session, const std::vector<int32_t>& prompt,
                             size_t cached, const GenerateOptions& o, const Tokenizer* tok,
                             const std::vector<int32_t>& end_ids) {
  GenerationParams p;
  p.sampling = o.sampling;
  p.presence_penalty = o.presence_penalty;
  p.frequency_penalty = o.frequency_penalty;
  p.repetition_penalty = o.repeat_penalty;
  p.logit_bias = o.logit_bias;
  p.max_tokens = o.n_predict;
  if (!o.ignore_eos) p.stop_tokens = end_ids;
  if (o.json_vocab) {
    JsonConstraintOptions jo;
    jo.max_tokens = o.n_predict;
    p.constraint = std::make_shared<JsonConstraint>(o.json_vocab, std::move(jo));
  }
  Generation gen(prompt, std::move(p), engine.context());
  const int64_t vocab = engine.config().vocab_size;

  Generated g;
  std::optional<StreamDecoder> dec;
  if (tok && o.echo) dec.emplace(*tok, /*skip_special=*/true);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  ResultRef ref = session.step(std::span(prompt).subspan(cached), gen.wanted());
  const auto t1 = Clock::now();
  g.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  for (;;) {
    const TokenEvent ev = gen.advance(session.result(), ref, vocab);
    // A stop token ends the text unprinted; a constrained document that completes on the last
    // token of the budget also finishes with Stop, and that token is part of the text.
    const bool stop_token = ev.finish == FinishReason::Stop &&
                            std::find(end_ids.begin(), end_ids.end(), ev.token) != end_ids.end();
    if (ev.finish == FinishReason::Stop) g.stopped = true;
    if (stop_token) break;
    if (ev.token >= 0) {
      g.tokens.push_back(ev.token);
      if (dec) {
        const std::string piece = dec->push(ev.token);
        std::fwrite(piece.data(), 1, piece.size(), stdout);
      } else if (o.echo) {
        std::printf("%s%d", g.tokens.size() > 1 ? " " : "", ev.token);
      }
      if (o.echo) std::fflush(stdout);
    }
    if (ev.finish != FinishReason::None) {
      if (gen.total() >= engine.context() && gen.n_generated() < o.n_predict)
        std::fprintf(stderr, "\nhearth: context of %d tokens is full, stopping\n",
                     engine.context());
      break;
    }
    ref = session.step({&ev.token, 1}, gen.wanted());
    g.fed.push_back(ev.token);
  }
  g.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  if (dec) {
    const std::string tail = dec->flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
  }
  if (o.echo) {
    std::printf("\n");
    std::fflush(stdout);
  }
  return g;
}

}  // namespace hearth::cli
