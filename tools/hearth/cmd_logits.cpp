// hearth logits MODEL --tokens IDS [--all]: the conformance interface. Prints float32 logits as
// computed, with enough digits to round-trip exactly. Keep the output shape stable.
#include <cstdio>
#include <string>

#include "command.h"
#include "engine_options.h"
#include "runtime/session.h"

namespace hearth::cli {
namespace {

struct LogitsOpts {
  std::string model;
  std::string tokens;
  bool all = false;
  EngineOptions engine;
};

void print_row(std::string& out, const float* row, int64_t n) {
  char buf[32];
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    int len = std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(row[i]));
    if (i) out += ',';
    out.append(buf, static_cast<size_t>(len));
  }
  out += ']';
}

int run_logits(LogitsOpts o) {
  std::vector<int32_t> ids = parse_token_list(o.tokens);
  if (o.engine.context == 0) o.engine.context = static_cast<int>(ids.size());
  Engine engine(o.model, o.engine);
  Session session(engine.model(), engine.cache(), engine.context());
  std::vector<float> logits = session.feed(ids, o.all);
  const int64_t V = engine.config().vocab_size;
  std::string out = "{\"tokens\":[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  out += "],\"logits\":[";
  const int64_t rows = static_cast<int64_t>(logits.size()) / V;
  for (int64_t r = 0; r < rows; ++r) {
    if (r) out += ',';
    print_row(out, logits.data() + r * V, V);
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

RegisterCommand reg(
    "logits", "Print the model's logits for a token sequence as JSON", [](CLI::App& app) {
      auto o = std::make_shared<LogitsOpts>();
      app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")
          ->required();
      app.add_option("--tokens", o->tokens, "Comma-separated token ids")->required();
      app.add_flag("--all", o->all, "Logits at every position, not just the last");
      add_engine_options(app, o->engine);
      return [o] { return run_logits(*o); };
    });

}  // namespace
}  // namespace hearth::cli
