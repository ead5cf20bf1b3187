// Each turn re-renders the whole conversation with the official template, takes the KV of the
// prefix it shares with earlier turns from the prefix cache (kv/prefix_cache.h, as the server
// does) and feeds only the rest. When the
// conversation outgrows the context, the oldest turns are dropped (the system message stays).
#include "chat_repl.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "chat/llama31_template.h"

namespace hearth::cli {
namespace {

// Reads one message. A line ending in '\' continues; a line of """ opens and closes a block.
// Returns false at end of input.
bool read_message(std::string& out, bool tty) {
  out.clear();
  if (tty) std::fputs("\n> ", stdout), std::fflush(stdout);
  std::string line;
  bool block = false;
  while (std::getline(std::cin, line)) {
    if (line == "\"\"\"") {
      if (block) return true;
      block = true;
      continue;
    }
    if (block) {
      out += line + "\n";
      continue;
    }
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      out += line + "\n";
      if (tty) std::fputs(". ", stdout), std::fflush(stdout);
      continue;
    }
    out += line;
    return true;
  }
  return !out.empty();
}

}  // namespace

int chat_repl(Engine& engine, const Tokenizer& tok, const std::string& system,
              const GenerateOptions& o, bool json) {
  const bool tty = !json && ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1;
  if (tty)
    std::printf(
        "hearth chat: %s, context %d tokens. Enter sends; end a line with \\ or wrap in \"\"\" "
        "for more lines; /reset clears, /exit or Ctrl-D quits.\n",
        engine.checkpoint().path.c_str(), engine.context());
  Session session(engine.model(), engine.cache(), engine.context());
  const std::vector<int32_t> end_ids = end_of_sequence_ids(engine.config(), &tok);
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  std::string input;
  while (read_message(input, tty)) {
    if (input == "/exit" || input == "/quit") break;
    if (input == "/reset") {
      history = nlohmann::ordered_json::array();
      session.reset();
      continue;
    }
    if (input.empty()) continue;
    history.push_back({{"role", "user"}, {"content", input}});
    std::vector<int32_t> ids;
    for (;;) {
      nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
      if (!system.empty()) msgs.push_back({{"role", "system"}, {"content", system}});
      for (auto& m : history) msgs.push_back(m);
      ids = tok.encode(render_llama31_chat(msgs, {}), false, true);
      if (static_cast<int>(ids.size()) + std::max(1, o.n_predict) <= engine.context() ||
          history.size() <= 1)
        break;
      history.erase(history.begin(), history.begin() + 2);  // the oldest user/assistant pair
    }
    if (static_cast<int>(ids.size()) >= engine.context()) {
      std::fprintf(stderr,
                   "hearth: that message (%zu tokens) does not fit the context of %d tokens\n",
                   ids.size(), engine.context());
      history.erase(history.end() - 1);
      continue;
    }
    const size_t common = static_cast<size_t>(session.reuse_prefix(ids));
    GenerateOptions turn = o;
    turn.echo = o.echo && !json;
    turn.n_predict = std::min(o.n_predict, engine.context() - static_cast<int>(ids.size()));
    Generated g = generate_to_stdout(engine, session, ids, common, turn, &tok, end_ids);
    const std::string reply = tok.decode(g.tokens, true);
    history.push_back({{"role", "assistant"}, {"content", reply}});
    if (json) {
      nlohmann::ordered_json j;
      j["prompt_tokens"] = ids.size();
      j["cached_tokens"] = common;
      j["tokens"] = g.tokens;
      j["text"] = reply;
      j["finish_reason"] = g.stopped ? "stop" : "length";
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      std::fflush(stdout);
    }
  }
  if (tty) std::printf("\n");
  return 0;
}

}  // namespace hearth::cli
