#pragma once
// Limits a request body is checked against before it is parsed. The JSON parser copes with any
// depth, but the code that walks the document afterwards (the chat template, Python-style
// formatting, dumps) recurses once per level: a body of 100,000 '[' would exhaust the stack.
#include <cstddef>
#include <string_view>

namespace hearth::server {

inline constexpr int kDefaultMaxJsonDepth = 128;

// The deepest nesting of arrays and objects in `text`, counting only brackets outside strings;
// stops scanning once it exceeds `stop_above` (and returns that depth). Not a validator: the
// parser still decides whether the text is JSON.
int json_nesting_depth(std::string_view text, int stop_above);

}  // namespace hearth::server
