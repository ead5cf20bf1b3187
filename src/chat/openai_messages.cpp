#include "chat/openai_messages.h"

#include <string>

#include "chat/python_format.h"
#include "util/error.h"

namespace hearth {
namespace {

using ojson = nlohmann::ordered_json;

std::string join_text_parts(const ojson& parts, const std::string& where) {
  std::string out;
  for (size_t j = 0; j < parts.size(); ++j) {
    const ojson& part = parts[j];
    std::string w = where + "[" + std::to_string(j) + "]";
    if (!part.is_object()) throw Error(w, "content part must be an object");
    auto type = part.find("type");
    if (type == part.end() || *type != "text") {
      std::string got = type != part.end() && type->is_string() ? type->get<std::string>() : "?";
      throw Error(w, "only text content parts are supported (got type '" + got + "')");
    }
    auto text = part.find("text");
    if (text == part.end() || !text->is_string()) throw Error(w, "text part has no string text");
    if (j > 0) out += '\n';
    out += text->get_ref<const std::string&>();
  }
  return out;
}

void normalize_arguments(ojson& fn) {
  auto args = fn.find("arguments");
  if (args == fn.end() || !args->is_string()) return;
  const std::string& text = args->get_ref<const std::string&>();
  if (pyfmt::strip(text).empty()) {
    *args = ojson::object();
    return;
  }
  ojson parsed = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) *args = std::move(parsed);
}

}  // namespace

nlohmann::ordered_json normalize_openai_messages(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) throw Error("messages", "must be an array of messages");
  ojson out = messages;
  for (size_t i = 0; i < out.size(); ++i) {
    ojson& m = out[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw Error(where, "must be an object");
    auto calls = m.find("tool_calls");
    if (calls != m.end() && (calls->is_null() || (calls->is_array() && calls->empty())))
      m.erase(calls);
    const bool has_calls = m.contains("tool_calls");
    auto content = m.find("content");
    if (content != m.end()) {
      if (content->is_array())
        *content = join_text_parts(*content, where + ".content");
      else if (content->is_null() && !has_calls)
        *content = "";
    }
    if (has_calls && m["tool_calls"].is_array()) {
      for (ojson& call : m["tool_calls"]) {
        if (!call.is_object()) continue;
        auto fn = call.find("function");
        if (fn != call.end() && fn->is_object()) normalize_arguments(*fn);
      }
    }
  }
  return out;
}

}  // namespace hearth
