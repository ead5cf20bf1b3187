// hearth template MODEL --messages FILE: the Llama 3.1 prompt a conversation becomes, and its
// tokens, without running the model. Tokenizes as transformers does (special-token text in
// messages is parsed), which is what `hearth serve --parse-special-in-messages` feeds the model.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chat/llama31_template.h"
#include "command.h"
#include "tokenizer/load.h"
#include "util/error.h"
#include "util/read_file.h"

namespace hearth::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct TemplateOpts {
  std::string model;
  std::string messages_file;
  std::string tools_file;
  std::string builtin_tools;
  bool tools_in_system = false;
  std::string date;
  bool no_generation_prompt = false;
};

// Key order matters to the prompt (tools are printed as given), hence ordered_json.
ojson read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return ojson::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at ...: ..."
    auto pos = what.find("] ");
    throw Error(path,
                "not valid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

int run_template(const TemplateOpts& o) {
  ojson messages = read_json_file(o.messages_file);
  ChatTemplateOptions opts;
  if (!o.tools_file.empty()) opts.tools = read_json_file(o.tools_file);
  opts.builtin_tools = split_list(o.builtin_tools);
  opts.tools_in_user_message = !o.tools_in_system;
  if (!o.date.empty()) opts.date_string = o.date;
  opts.add_generation_prompt = !o.no_generation_prompt;
  std::string prompt = render_llama31_chat(messages, opts);
  // The template already starts with <|begin_of_text|>: no second BOS from the tokenizer.
  Tokenizer tok = load_tokenizer(o.model);
  std::vector<int32_t> tokens = tok.encode(prompt, /*add_bos=*/false, /*parse_special=*/true);
  ojson out;
  out["prompt"] = prompt;
  out["tokens"] = tokens;
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

RegisterCommand reg(
    "template", "Render a conversation with the Llama 3.1 chat template and tokenize it",
    [](CLI::App& app) {
      auto o = std::make_shared<TemplateOpts>();
      app.footer(
          "Tokens: special-token text anywhere in the prompt, message content included (a typed "
          "\"<|eot_id|>\"), becomes special tokens, as transformers' apply_chat_template does. "
          "hearth serve differs: it encodes message text as plain text unless started with "
          "--parse-special-in-messages.");
      app.add_option("MODEL", o->model,
                     "GGUF file or Hugging Face checkpoint directory (tokenizer)")
          ->required();
      app.add_option("--messages", o->messages_file, "JSON file: an array of chat messages")
          ->required();
      app.add_option("--tools", o->tools_file, "JSON file: an array of tool definitions");
      app.add_option("--builtin-tools", o->builtin_tools,
                     "Comma-separated: brave_search, wolfram_alpha, code_interpreter");
      app.add_flag("--tools-in-system", o->tools_in_system,
                   "Put tool definitions in the system message instead of the first user message");
      app.add_option("--date", o->date, "Today Date line (default \"26 Jul 2024\")");
      app.add_flag("--no-generation-prompt", o->no_generation_prompt,
                   "Do not end with an open assistant header");
      return [o] { return run_template(*o); };
    });

}  // namespace
}  // namespace hearth::cli
