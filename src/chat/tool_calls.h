#pragma once
// Turns the text a Llama 3.1 model generated into an assistant message: plain content, or tool
// calls in one of the two forms the model is trained on:
//   custom tools:  {"name": "get_weather", "parameters": {"city": "Paris"}}   (ends with eot)
//   builtin tools: <|python_tag|>brave_search.call(query="...")              (ends with eom)
// and code_interpreter, whose call is raw Python after <|python_tag|>.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments;  // always an object; key order as generated
  bool builtin = false;              // written after <|python_tag|> in the name.call(...) form,
                                     // or raw code for code_interpreter
  std::string raw;                   // the generated text of this call
};

struct ParsedAssistant {
  std::string content;
  std::vector<ToolCall> tool_calls;
};

// Never throws on any text: whatever is not a well-formed tool call is content, unchanged.
//  - A trailing <|eot_id|>, <|eom_id|> or <|end_of_text|> (if the detokenizer printed it) is
//    dropped; a trailing <|eom_id|> counts as ended_with_eom.
//  - After <|python_tag|>: name.call(key="value", n=3, ...) (Python literals: quoted strings with
//    escapes, numbers, True/False/None), or JSON calls, or else the rest is code_interpreter code.
//    Text before the tag is the content. A body that starts like a call or like JSON but does not
//    parse leaves the whole text as content.
//  - Without the tag: the whole text must be JSON calls, each an object with a string "name" and
//    "parameters" (or "arguments") that is an object or a string holding one; several calls may be
//    separated by ';', ',' or whitespace, or given as one JSON array. With ended_with_eom the
//    name.call(...) form is accepted too (the tag may have been stripped as a special token).
ParsedAssistant parse_llama31_output(std::string_view text, bool ended_with_eom);

}  // namespace hearth
