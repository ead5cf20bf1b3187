#include "server/anthropic_request.h"

#include <algorithm>

#include "server/json_fields.h"

namespace hearth::server {
namespace {

using namespace fields;  // NOLINT: the typed readers read better unqualified

constexpr size_t kMaxStopSequences = 16;

ApiError missing(const std::string& name) {
  return invalid_request(name + ": Field required", name, "missing_required_parameter");
}

std::string block_type(const ojson& block, const std::string& where) {
  if (!block.is_object()) throw wrong_type(where, "an object", block);
  auto type = string(block, "type");
  if (!type) throw missing(where + ".type");
  return *type;
}

// A string, or an array of text blocks joined with "\n".
std::string text_of(const ojson& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) throw wrong_type(where, "a string or an array of text blocks", v);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string w = where + "[" + std::to_string(i) + "]";
    const std::string type = block_type(v[i], w);
    if (type != "text")
      throw invalid_request(w + ": only text blocks are supported here (got '" + type + "')", w,
                            "invalid_value");
    auto text = string(v[i], "text");
    if (!text) throw missing(w + ".text");
    if (i > 0) out += '\n';
    out += *text;
  }
  return out;
}

ojson message(const char* role, std::string content) {
  ojson m;
  m["role"] = role;
  m["content"] = std::move(content);
  return m;
}

// One Anthropic message becomes one or more template messages, appended to `out`.
void convert_message(const ojson& m, const std::string& where, ojson& out) {
  if (!m.is_object()) throw wrong_type(where, "an object", m);
  auto role = string(m, "role");
  if (!role) throw missing(where + ".role");
  if (*role != "user" && *role != "assistant")
    throw invalid_request(where + ".role: Input should be 'user' or 'assistant'", where + ".role",
                          "invalid_value");
  const ojson* content = field(m, "content");
  if (!content) throw missing(where + ".content");
  if (content->is_string()) {
    out.push_back(message(role->c_str(), content->get<std::string>()));
    return;
  }
  if (!content->is_array())
    throw wrong_type(where + ".content", "a string or an array of content blocks", *content);

  std::string text;
  bool has_text = false;
  auto flush_text = [&] {
    if (has_text) out.push_back(message(role->c_str(), text));
    text.clear();
    has_text = false;
  };
  for (size_t i = 0; i < content->size(); ++i) {
    const std::string w = where + ".content[" + std::to_string(i) + "]";
    const ojson& b = (*content)[i];
    const std::string type = block_type(b, w);
    if (type == "text") {
      auto t = string(b, "text");
      if (!t) throw missing(w + ".text");
      if (has_text) text += '\n';
      text += *t;
      has_text = true;
    } else if (type == "tool_use" && *role == "assistant") {
      auto id = string(b, "id");
      auto name = string(b, "name");
      if (!id) throw missing(w + ".id");
      if (!name) throw missing(w + ".name");
      const ojson* input = field(b, "input");
      if (input && !input->is_object()) throw wrong_type(w + ".input", "an object", *input);
      flush_text();
      // The template takes one call per assistant message.
      ojson call;
      call["id"] = *id;
      call["type"] = "function";
      call["function"] = {{"name", *name}, {"arguments", input ? *input : ojson::object()}};
      ojson am;
      am["role"] = "assistant";
      am["content"] = "";
      am["tool_calls"] = ojson::array({call});
      out.push_back(std::move(am));
    } else if (type == "tool_result" && *role == "user") {
      auto id = string(b, "tool_use_id");
      if (!id) throw missing(w + ".tool_use_id");
      std::string result;
      if (const ojson* c = field(b, "content")) result = text_of(*c, w + ".content");
      if (auto err = boolean(b, "is_error"); err && *err) result = "Error: " + result;
      flush_text();
      ojson tm = message("tool", std::move(result));
      tm["tool_call_id"] = *id;
      out.push_back(std::move(tm));
    } else if (type == "thinking" || type == "redacted_thinking") {
      // Reasoning another model produced: not part of what this model reads.
    } else if (type == "tool_use" || type == "tool_result") {
      throw invalid_request(
          w + ": a '" + type + "' block may not appear in a '" + *role + "' message", w + ".type",
          "invalid_value");
    } else {
      throw invalid_request(w + ": content blocks of type '" + type +
                                "' are not supported (this model reads text only)",
                            w + ".type", "invalid_value");
    }
  }
  flush_text();
}

void parse_tools(const ojson& body, ChatRequest& r) {
  const ojson* tools = field(body, "tools");
  if (!tools) return;
  if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
  ojson out = ojson::array();
  for (size_t i = 0; i < tools->size(); ++i) {
    const std::string w = "tools[" + std::to_string(i) + "]";
    const ojson& t = (*tools)[i];
    if (!t.is_object()) throw wrong_type(w, "an object", t);
    if (auto type = string(t, "type"); type && *type != "custom")
      throw invalid_request(w + ".type: server tools ('" + *type + "') are not supported",
                            w + ".type", "invalid_value");
    auto name = string(t, "name");
    if (!name) throw missing(w + ".name");
    if (!valid_function_name(*name))
      throw invalid_request(w + ".name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
                            w + ".name", "invalid_value");
    const ojson* schema = field(t, "input_schema");
    if (!schema) throw missing(w + ".input_schema");
    if (!schema->is_object()) throw wrong_type(w + ".input_schema", "an object", *schema);
    ojson fn;
    fn["name"] = *name;
    if (auto d = string(t, "description")) fn["description"] = *d;
    fn["parameters"] = *schema;
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
    r.tool_names.push_back(*name);
  }
  if (!out.empty()) r.tools = std::move(out);
}

void parse_tool_choice(const ojson& body, ChatRequest& r) {
  r.tool_choice = ToolChoice::kAuto;
  if (const ojson* tc = field(body, "tool_choice")) {
    if (!tc->is_object()) throw wrong_type("tool_choice", "an object", *tc);
    auto type = string(*tc, "type");
    if (!type) throw missing("tool_choice.type");
    if (*type == "auto") {
      r.tool_choice = ToolChoice::kAuto;
    } else if (*type == "any") {
      r.tool_choice = ToolChoice::kRequired;
    } else if (*type == "none") {
      r.tool_choice = ToolChoice::kNone;
    } else if (*type == "tool") {
      auto name = string(*tc, "name");
      if (!name) throw missing("tool_choice.name");
      if (std::find(r.tool_names.begin(), r.tool_names.end(), *name) == r.tool_names.end())
        throw invalid_request("tool_choice.name: no tool named '" + *name + "' in 'tools'",
                              "tool_choice.name", "invalid_value");
      r.tool_choice = ToolChoice::kNamed;
      r.tool_name = *name;
    } else {
      throw invalid_request(
          "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none' (got '" + *type + "')",
          "tool_choice.type", "invalid_value");
    }
    if ((r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed) &&
        r.tools.is_null())
      throw invalid_request("tool_choice: a tool must be used but 'tools' is empty", "tool_choice",
                            "invalid_value");
  }
  if (r.tools.is_null()) r.tool_choice = ToolChoice::kNone;
}

SamplingFields sampling(const ojson& body) {
  SamplingFields s;
  s.sampling.temperature = 1.0f;  // Anthropic's defaults: temperature 1, nucleus and top-k off
  s.sampling.top_p = 1.0f;
  s.sampling.top_k = 0;
  s.sampling.min_p = 0.0f;
  const ojson* mt = field(body, "max_tokens");
  if (!mt) throw missing("max_tokens");
  s.max_tokens = static_cast<int>(*integer(body, "max_tokens", 1, INT32_MAX));
  if (auto t = number(body, "temperature", 0, 1)) s.sampling.temperature = static_cast<float>(*t);
  if (auto p = number(body, "top_p", 0, 1)) {
    if (*p == 0)
      s.sampling.temperature = 0;  // only the most likely token is left
    else
      s.sampling.top_p = static_cast<float>(*p);
  }
  if (auto k = integer(body, "top_k", 0, INT32_MAX)) s.sampling.top_k = static_cast<int>(*k);
  if (const ojson* st = field(body, "stop_sequences")) {
    if (!st->is_array()) throw wrong_type("stop_sequences", "an array of strings", *st);
    if (st->size() > kMaxStopSequences)
      throw invalid_request(
          "stop_sequences: at most " + std::to_string(kMaxStopSequences) + " are allowed",
          "stop_sequences", "invalid_value");
    for (auto& x : *st) {
      if (!x.is_string()) throw wrong_type("stop_sequences", "an array of strings", x);
      s.stop.push_back(x.get<std::string>());
    }
  }
  if (auto st = boolean(body, "stream")) s.stream = *st;
  return s;
}

}  // namespace

ChatRequest parse_anthropic_request(const ojson& body) {
  ChatRequest r;
  r.model = model_field(body);
  r.s = sampling(body);
  r.messages = ojson::array();
  if (const ojson* sys = field(body, "system")) {
    std::string text = text_of(*sys, "system");
    r.messages.push_back(message("system", std::move(text)));
  }
  const ojson* messages = field(body, "messages");
  if (!messages) throw missing("messages");
  if (!messages->is_array()) throw wrong_type("messages", "an array", *messages);
  if (messages->empty())
    throw invalid_request("messages: at least one message is required", "messages",
                          "invalid_value");
  for (size_t i = 0; i < messages->size(); ++i)
    convert_message((*messages)[i], "messages[" + std::to_string(i) + "]", r.messages);
  parse_tools(body, r);
  parse_tool_choice(body, r);
  return r;
}

}  // namespace hearth::server
