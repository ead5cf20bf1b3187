#include "server/responses_request.h"

#include <algorithm>

#include "server/json_fields.h"

namespace hearth::server {
namespace {

using namespace fields;  // NOLINT: the typed readers read better unqualified

constexpr size_t kMaxStops = 16;

ApiError missing(const std::string& name) {
  return invalid_request("Missing required parameter: '" + name + "'.", name,
                         "missing_required_parameter");
}

ApiError unsupported(const std::string& message, const std::string& param) {
  return invalid_request(message, param, "unsupported_value");
}

ojson message(const std::string& role, std::string content) {
  ojson m;
  m["role"] = role;
  m["content"] = std::move(content);
  return m;
}

// Message content: a string, or text parts (input_text, output_text) joined with "\n".
std::string content_text(const ojson& c, const std::string& where) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw wrong_type(where, "a string or an array of content parts", c);
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    const std::string w = where + "[" + std::to_string(i) + "]";
    const ojson& part = c[i];
    if (!part.is_object()) throw wrong_type(w, "an object", part);
    auto type = string(part, "type");
    if (!type) throw missing(w + ".type");
    if (*type != "input_text" && *type != "output_text" && *type != "text")
      throw unsupported(
          "Content parts of type '" + *type + "' are not supported: this model reads text only.",
          w + ".type");
    auto text = string(part, "text");
    if (!text) throw missing(w + ".text");
    if (i > 0) out += '\n';
    out += *text;
  }
  return out;
}

void convert_item(const ojson& item, const std::string& where, ojson& out) {
  if (!item.is_object()) throw wrong_type(where, "an object", item);
  auto type = string(item, "type");
  if (!type || *type == "message") {
    auto role = string(item, "role");
    if (!role) throw missing(where + ".role");
    if (*role != "user" && *role != "assistant" && *role != "system" && *role != "developer")
      throw invalid_request("Invalid value for '" + where + ".role': '" + *role +
                                "'. Supported values are: 'user', 'assistant', 'system' and "
                                "'developer'.",
                            where + ".role", "invalid_value");
    const ojson* content = field(item, "content");
    if (!content) throw missing(where + ".content");
    out.push_back(message(*role == "developer" ? "system" : *role,
                          content_text(*content, where + ".content")));
  } else if (*type == "function_call") {
    auto call_id = string(item, "call_id");
    auto name = string(item, "name");
    auto arguments = string(item, "arguments");
    if (!call_id) throw missing(where + ".call_id");
    if (!name) throw missing(where + ".name");
    if (!arguments) throw missing(where + ".arguments");
    ojson args = ojson::parse(*arguments, nullptr, /*allow_exceptions=*/false);
    if (arguments->find_first_not_of(" \t\r\n") == std::string::npos) args = ojson::object();
    if (!args.is_object())
      throw invalid_request("Invalid '" + where + ".arguments': expected a JSON object.",
                            where + ".arguments", "invalid_value");
    ojson call;
    call["id"] = *call_id;
    call["type"] = "function";
    call["function"] = {{"name", *name}, {"arguments", std::move(args)}};
    ojson m = message("assistant", "");
    m["tool_calls"] = ojson::array({call});
    out.push_back(std::move(m));
  } else if (*type == "function_call_output") {
    auto call_id = string(item, "call_id");
    if (!call_id) throw missing(where + ".call_id");
    const ojson* output = field(item, "output");
    if (!output) throw missing(where + ".output");
    ojson m = message("tool", content_text(*output, where + ".output"));
    m["tool_call_id"] = *call_id;
    out.push_back(std::move(m));
  } else if (*type == "reasoning") {
    // Another model's reasoning: not something this model reads.
  } else if (*type == "item_reference") {
    throw unsupported("Item references are not supported: this server does not store items.",
                      where + ".type");
  } else {
    throw unsupported("Input items of type '" + *type + "' are not supported.", where + ".type");
  }
}

void parse_tools(const ojson& body, ResponsesRequest& r) {
  const ojson* tools = field(body, "tools");
  if (!tools) return;
  if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
  ojson chat_tools = ojson::array();
  for (size_t i = 0; i < tools->size(); ++i) {
    const std::string w = "tools[" + std::to_string(i) + "]";
    const ojson& t = (*tools)[i];
    if (!t.is_object()) throw wrong_type(w, "an object", t);
    auto type = string(t, "type");
    if (!type) throw missing(w + ".type");
    if (*type != "function")
      throw unsupported("Tools of type '" + *type + "' are not supported; only 'function'.",
                        w + ".type");
    auto name = string(t, "name");
    if (!name || !valid_function_name(*name))
      throw invalid_request(
          "Invalid '" + w + ".name': expected a string matching " + "^[a-zA-Z0-9_-]{1,64}$.",
          w + ".name", "invalid_value");
    ojson fn;
    fn["name"] = *name;
    if (auto d = string(t, "description")) fn["description"] = *d;
    if (const ojson* p = field(t, "parameters")) {
      if (!p->is_object()) throw wrong_type(w + ".parameters", "an object", *p);
      fn["parameters"] = *p;
    }
    (void)boolean(t, "strict");  // type-checked; enforcing it is the JSON-schema constraint's job
    chat_tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
    r.chat.tool_names.push_back(*name);
  }
  r.tools = *tools;
  if (!chat_tools.empty()) r.chat.tools = std::move(chat_tools);
}

void parse_tool_choice(const ojson& body, ResponsesRequest& r) {
  ChatRequest& c = r.chat;
  c.tool_choice = ToolChoice::kAuto;
  if (const ojson* tc = field(body, "tool_choice")) {
    r.tool_choice = *tc;
    if (tc->is_string()) {
      const std::string v = tc->get<std::string>();
      if (v == "none")
        c.tool_choice = ToolChoice::kNone;
      else if (v == "auto")
        c.tool_choice = ToolChoice::kAuto;
      else if (v == "required")
        c.tool_choice = ToolChoice::kRequired;
      else
        throw invalid_request("Invalid value for 'tool_choice': '" + v +
                                  "'. Supported values are: 'none', 'auto' and 'required'.",
                              "tool_choice", "invalid_value");
    } else if (tc->is_object()) {
      auto type = string(*tc, "type");
      if (!type || *type != "function")
        throw unsupported(
            "Only {\"type\": \"function\", \"name\": ...} is supported as an object "
            "'tool_choice'.",
            "tool_choice.type");
      auto name = string(*tc, "name");
      if (!name) throw missing("tool_choice.name");
      if (std::find(c.tool_names.begin(), c.tool_names.end(), *name) == c.tool_names.end())
        throw invalid_request(
            "Invalid 'tool_choice': no function named '" + *name + "' in 'tools'.",
            "tool_choice.name", "invalid_value");
      c.tool_choice = ToolChoice::kNamed;
      c.tool_name = *name;
    } else {
      throw wrong_type("tool_choice", "a string or an object", *tc);
    }
    if ((c.tool_choice == ToolChoice::kRequired || c.tool_choice == ToolChoice::kNamed) &&
        c.tools.is_null())
      throw invalid_request("'tool_choice' is only allowed when 'tools' are specified.",
                            "tool_choice", "invalid_value");
  }
  if (c.tools.is_null()) c.tool_choice = ToolChoice::kNone;
}

void parse_text_format(const ojson& body, ResponsesRequest& r) {
  const ojson* text = field(body, "text");
  if (!text) return;
  if (!text->is_object()) throw wrong_type("text", "an object", *text);
  const ojson* format = field(*text, "format");
  if (!format) return;
  if (!format->is_object()) throw wrong_type("text.format", "an object", *format);
  auto type = string(*format, "type");
  if (!type) throw missing("text.format.type");
  if (*type == "json_object")
    r.chat.json_object = true;
  else if (*type != "text")
    throw unsupported("text.format '" + *type +
                          "' is not supported by this endpoint; use 'text' or 'json_object'.",
                      "text.format.type");
}

SamplingFields sampling(const ojson& body, ResponsesRequest& r) {
  SamplingFields s;
  s.sampling.temperature = 1.0f;
  s.sampling.top_p = 1.0f;
  s.sampling.top_k = 0;
  s.sampling.min_p = 0.0f;
  if (auto t = number(body, "temperature", 0, 2)) {
    r.temperature = *t;
    s.sampling.temperature = static_cast<float>(*t);
  }
  if (auto p = number(body, "top_p", 0, 1)) {
    r.top_p = *p;
    if (*p == 0)
      s.sampling.temperature = 0;  // only the most likely token is left
    else
      s.sampling.top_p = static_cast<float>(*p);
  }
  if (auto m = integer(body, "max_output_tokens", 1, INT32_MAX)) {
    s.max_tokens = static_cast<int>(*m);
    r.max_output_tokens = s.max_tokens;
  }
  if (const ojson* st = field(body, "stop")) {
    if (st->is_string()) {
      s.stop.push_back(st->get<std::string>());
    } else if (st->is_array() && st->size() <= kMaxStops) {
      for (auto& x : *st) {
        if (!x.is_string()) throw wrong_type("stop", "a string or an array of strings", x);
        s.stop.push_back(x.get<std::string>());
      }
    } else {
      throw invalid_request(
          "'stop' takes a string or at most " + std::to_string(kMaxStops) + " strings.", "stop",
          "invalid_value");
    }
  }
  if (auto seed = integer(body, "seed", INT64_MIN, INT64_MAX))
    s.seed = static_cast<uint64_t>(*seed);
  if (auto st = boolean(body, "stream")) s.stream = *st;
  return s;
}

}  // namespace

ResponsesRequest parse_responses_request(const ojson& body) {
  ResponsesRequest r;
  ChatRequest& c = r.chat;
  c.model = model_field(body);
  if (auto prev = string(body, "previous_response_id"))
    throw invalid_request("Previous response with id '" + *prev +
                              "' not found. This server does not store responses: send the "
                              "whole conversation in 'input' instead.",
                          "previous_response_id", "previous_response_not_found");
  if (field(body, "conversation"))
    throw unsupported("'conversation' is not supported: this server does not store state.",
                      "conversation");
  if (auto bg = boolean(body, "background"); bg && *bg)
    throw unsupported("Background responses are not supported.", "background");
  (void)boolean(body, "store");  // never stored, whatever it says
  if (auto p = boolean(body, "parallel_tool_calls")) r.parallel_tool_calls = *p;
  if (const ojson* md = field(body, "metadata")) {
    if (!md->is_object()) throw wrong_type("metadata", "an object", *md);
    r.metadata = *md;
  }
  c.s = sampling(body, r);

  c.messages = ojson::array();
  if (auto instr = string(body, "instructions")) {
    r.instructions = *instr;
    c.messages.push_back(message("system", *instr));
  }
  const ojson* input = field(body, "input");
  if (!input) throw missing("input");
  if (input->is_string()) {
    c.messages.push_back(message("user", input->get<std::string>()));
  } else if (input->is_array()) {
    if (input->empty())
      throw invalid_request("'input' must contain at least one item.", "input", "invalid_value");
    for (size_t i = 0; i < input->size(); ++i)
      convert_item((*input)[i], "input[" + std::to_string(i) + "]", c.messages);
  } else {
    throw wrong_type("input", "a string or an array of input items", *input);
  }
  parse_tools(body, r);
  parse_tool_choice(body, r);
  parse_text_format(body, r);
  if (c.json_object &&
      (c.tool_choice == ToolChoice::kRequired || c.tool_choice == ToolChoice::kNamed))
    throw invalid_request("'text.format' json_object cannot be combined with a required tool call.",
                          "text.format", "invalid_value");
  return r;
}

}  // namespace hearth::server
