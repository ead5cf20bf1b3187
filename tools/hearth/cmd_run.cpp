// hearth run MODEL [--prompt TEXT [--chat] | --tokens IDS]: generate and stream to stdout.
// With no prompt at all it opens an interactive chat (chat_repl.cpp).
#include <cstdio>
#include <string>

#include "chat/llama31_template.h"
#include "chat_repl.h"
#include "command.h"
#include "engine_options.h"
#include "generate.h"
#include "tokenizer/load.h"
#include "util/error.h"

namespace hearth::cli {
namespace {

struct RunOpts {
  std::string model;
  std::string prompt;
  std::string tokens;
  std::string system;
  bool chat = false;
  bool special = false;
  bool print_ids = false;
  bool json = false;
  GenerateOptions gen;
  EngineOptions engine;
};

// One object: what was generated, why it ended, and how fast (tokens per second of wall time).
void print_json(const std::string& model, const std::vector<int32_t>& prompt, const Generated& g,
                const Tokenizer* tok) {
  nlohmann::ordered_json j;
  j["model"] = model;
  j["prompt_tokens"] = prompt.size();
  j["tokens"] = g.tokens;
  if (tok) {
    StreamDecoder dec(*tok, /*skip_special=*/true);
    std::string text;
    for (int32_t t : g.tokens) text += dec.push(t);
    j["text"] = text + dec.flush();
  }
  j["finish_reason"] = g.stopped ? "stop" : "length";
  auto rate = [](size_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  j["prompt_tokens_per_s"] = rate(prompt.size(), g.prompt_seconds);
  // The first generated token comes from the prompt's logits; the rest each cost one step.
  j["decode_tokens_per_s"] = rate(g.fed.size(), g.decode_seconds);
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

int run_generate(RunOpts o) {
  check_options(o.gen);
  if (!o.tokens.empty() && !o.prompt.empty())
    throw Error("run", "give --prompt or --tokens, not both");
  std::optional<Tokenizer> tok;
  if (has_tokenizer(o.model)) tok = load_tokenizer(o.model);
  const Tokenizer* tk = tok ? &*tok : nullptr;
  if (o.tokens.empty() && o.prompt.empty()) {
    if (!tok) throw Error(o.model, "has no tokenizer: interactive chat needs one (use --tokens)");
    Engine engine(o.model, o.engine);
    prepare(o.gen, engine, tk, end_of_sequence_ids(engine.config(), tk));
    return chat_repl(engine, *tok, o.system, o.gen, o.json);
  }
  std::vector<int32_t> ids;
  if (!o.tokens.empty()) {
    ids = parse_token_list(o.tokens);
  } else {
    if (!tok) throw Error(o.model, "has no tokenizer: use --tokens");
    if (o.chat) {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      if (!o.system.empty()) msgs.push_back({{"role", "system"}, {"content", o.system}});
      msgs.push_back({{"role", "user"}, {"content", o.prompt}});
      ids = tok->encode(render_llama31_chat(msgs, {}), false, true);
    } else {
      ids = tok->encode(o.prompt, tok->add_bos_default(), o.special);
    }
  }
  Engine engine(o.model, o.engine);
  const std::vector<int32_t> end_ids = end_of_sequence_ids(engine.config(), tk);
  prepare(o.gen, engine, tk, end_ids);
  Session session(engine.model(), engine.cache(), engine.context());
  const Tokenizer* out_tok = (tok && !o.print_ids) ? tk : nullptr;
  o.gen.echo = !o.json;
  Generated g = generate_to_stdout(engine, session, ids, 0, o.gen, out_tok, end_ids);
  if (o.json) print_json(o.model, ids, g, tk);
  return 0;
}

RegisterCommand reg(
    "run", "Generate text from a prompt, streaming to stdout (no prompt: interactive chat)",
    [](CLI::App& app) {
      auto o = std::make_shared<RunOpts>();
      app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")
          ->required();
      app.add_option("-p,--prompt", o->prompt, "Prompt text");
      app.add_option("--tokens", o->tokens, "Prompt as comma-separated token ids");
      app.add_flag("--chat", o->chat,
                   "Wrap --prompt in the Llama 3.1 chat template as a user turn");
      app.add_option("--system", o->system, "System message for --chat and interactive chat");
      app.add_flag("--special", o->special, "Parse special tokens such as <|eot_id|> in --prompt");
      app.add_flag("--print-ids", o->print_ids, "Print token ids instead of text");
      app.add_flag("--json", o->json,
                   "Print one JSON object at the end (tokens, text, finish reason, speed); in "
                   "the interactive chat, one per turn (with the prompt tokens reused from the "
                   "prefix cache)");
      add_generate_options(app, o->gen);
      add_engine_options(app, o->engine);
      app.add_flag("!--no-prefix-cache", o->engine.prefix_cache,
                   "Interactive chat: recompute the whole conversation each turn");
      return [o] { return run_generate(*o); };
    });

}  // namespace
}  // namespace hearth::cli
