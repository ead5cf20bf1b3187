#pragma once
// The Llama 3.1 prompt format, rendered natively. The specification is the official chat template
// (tests/data/llama31/chat_template.jinja) as Hugging Face transformers renders it: the output
// matches it byte for byte, quirks included (see the notes on render_llama31_chat).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth {

struct ChatTemplateOptions {
  // Array of tool definitions, each written out as given (OpenAI {"type":"function",...} or a bare
  // function object); null means no tools. ordered_json so that key order survives: the template
  // prints tools with json.dumps, which keeps insertion order. A plain nlohmann::json converts
  // implicitly, but its keys are then sorted.
  nlohmann::ordered_json tools = nullptr;
  std::vector<std::string> builtin_tools;  // brave_search, wolfram_alpha, code_interpreter; empty
                                           // = not given (the template tests "is defined")
  bool tools_in_user_message = true;
  std::optional<std::string> date_string;  // default "26 Jul 2024", as the template
  bool add_generation_prompt = true;
  std::string bos_token = "<|begin_of_text|>";
};

// Renders an array of chat messages. Throws hearth::Error where the template raises (no user
// message to carry the tools, more or fewer than one tool call in a message, non-string builtin
// tool arguments...) and on malformed input: messages not an array, a message that is not an
// object or has no string "role", tools neither null nor an array.
//
// Quirks reproduced on purpose, because the template does them:
//  - message content goes through `| trim`, i.e. Python's str(): a list of text parts renders as
//    its Python repr "[{'type': 'text', 'text': 'hi'}]", null as "None", a missing content as "".
//    normalize_openai_messages() joins text parts first for callers that want the text.
//  - tool/ipython content that is a string, list or object is written with json.dumps, so a string
//    result appears in quotes; numbers, booleans and null print as Python does (True, None).
//  - string tool-call arguments (OpenAI convention) are json.dumps'ed as a string.
//  - an assistant message's content is dropped when it has tool_calls; with tools in the user
//    message the first non-system message is used as the user message whatever its role.
std::string render_llama31_chat(const nlohmann::ordered_json& messages,
                                const ChatTemplateOptions& opts = {});

// The same text, with the [begin, end) byte ranges of the special tokens the template wrote
// itself (BOS, headers, end-of-turn, python tag). Every other byte came from the caller (message
// content, tool definitions, names), so a server can encode it as plain text and keep a user
// from forging turns with "<|eot_id|>" typed into a message.
struct RenderedChat {
  std::string text;
  std::vector<std::pair<size_t, size_t>> specials;
};
RenderedChat render_llama31_chat_marked(const nlohmann::ordered_json& messages,
                                        const ChatTemplateOptions& opts = {});

}  // namespace hearth
