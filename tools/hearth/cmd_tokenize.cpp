// hearth tokenize MODEL (TEXT | --file F) [--no-bos] [--special]: token ids as one JSON line.
// hearth detokenize MODEL --tokens 1,2,3 [--skip-special] [-n]: the text of the ids.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "tokenizer/load.h"
#include "util/error.h"
#include "util/read_file.h"

namespace hearth::cli {
namespace {

struct TokenizeOpts {
  std::string model, text, file;
  bool no_bos = false, special = false;
};

int run_tokenize(const TokenizeOpts& o, bool from_file) {
  Tokenizer tok = load_tokenizer(o.model);
  std::string text = from_file ? read_file(o.file) : o.text;
  std::vector<int32_t> ids = tok.encode(text, tok.add_bos_default() && !o.no_bos, o.special);
  std::printf("%s\n", nlohmann::json(ids).dump().c_str());
  return 0;
}

struct DetokenizeOpts {
  std::string model, tokens;
  bool skip_special = false, no_newline = false;
};

int run_detokenize(const DetokenizeOpts& o) {
  std::vector<int32_t> ids = parse_token_list(o.tokens);
  Tokenizer tok = load_tokenizer(o.model);
  std::string text = tok.decode(ids, o.skip_special);
  if (!o.no_newline) text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

RegisterCommand reg_tokenize(
    "tokenize", "Print the token ids of a text as a JSON array", [](CLI::App& app) {
      auto o = std::make_shared<TokenizeOpts>();
      app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")
          ->required();
      CLI::Option* text = app.add_option("TEXT", o->text, "Text to tokenize");
      CLI::Option* file =
          app.add_option("--file", o->file, "Read the text from this file (raw bytes)");
      text->excludes(file);
      app.add_flag("--no-bos", o->no_bos, "Do not prepend <|begin_of_text|>");
      app.add_flag("--special", o->special,
                   "Parse special tokens written in the text (e.g. <|eot_id|>); otherwise they "
                   "are plain text");
      app.parse_complete_callback([text, file] {
        if (text->count() == 0 && file->count() == 0)
          throw CLI::ValidationError("tokenize", "give the TEXT or --file FILE");
      });
      return [o, file] { return run_tokenize(*o, file->count() > 0); };
    });

RegisterCommand reg_detokenize(
    "detokenize", "Print the text of a list of token ids", [](CLI::App& app) {
      auto o = std::make_shared<DetokenizeOpts>();
      app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")
          ->required();
      app.add_option("--tokens", o->tokens, "Token ids, e.g. 128000,9906,1917")->required();
      app.add_flag("--skip-special", o->skip_special,
                   "Leave out special tokens such as <|eot_id|>");
      app.add_flag("-n,--no-newline", o->no_newline, "Do not end the output with a newline");
      return [o] { return run_detokenize(*o); };
    });

}  // namespace
}  // namespace hearth::cli
