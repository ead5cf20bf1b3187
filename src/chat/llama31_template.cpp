#include "chat/llama31_template.h"

#include <algorithm>

#include "chat/python_format.h"
#include "chat/special_tokens.h"
#include "util/error.h"

namespace hearth {
namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kDefaultDate = "26 Jul 2024";
constexpr const char* kFormatHint =
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name "
    "and its value}.Do not use variables.\n\n";

std::string where(size_t index, const std::string& field = "") {
  std::string w = "messages[" + std::to_string(index) + "]";
  if (!field.empty()) w += "." + field;
  return w;
}

// `message['content'] | trim`: Python's str() of the value, stripped; a missing key is "".
std::string trimmed_content(const ojson& message) {
  auto it = message.find("content");
  if (it == message.end()) return "";
  return std::string(pyfmt::strip(pyfmt::str(*it)));
}

// The prompt as it is written, with the byte ranges of the special tokens the template itself
// writes, so that a caller can tell them from look-alike text inside message content.
class Out {
 public:
  Out& operator+=(std::string_view text) {
    r_.text += text;
    return *this;
  }
  void special(std::string_view token) {
    r_.specials.push_back({r_.text.size(), r_.text.size() + token.size()});
    r_.text += token;
  }
  RenderedChat take() { return std::move(r_); }

 private:
  RenderedChat r_;
};

void append_header(Out& out, std::string_view role) {
  out.special(llama31::kStartHeader);
  out += role;
  out.special(llama31::kEndHeader);
  out += "\n\n";
}

void validate(const ojson& messages, const ChatTemplateOptions& opts) {
  if (!messages.is_array()) throw Error("messages", "must be an array of messages");
  if (messages.empty()) throw Error("messages", "must contain at least one message");
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    if (!m.is_object()) throw Error(where(i), "must be an object");
    auto role = m.find("role");
    if (role == m.end()) throw Error(where(i), "has no role");
    if (!role->is_string()) throw Error(where(i, "role"), "must be a string");
  }
  if (!opts.tools.is_null() && !opts.tools.is_array())
    throw Error("tools", "must be an array of tool definitions");
}

void append_tool_call(Out& out, const ojson& message, size_t index,
                      const ChatTemplateOptions& opts) {
  const ojson& calls = message["tool_calls"];
  if (!calls.is_array()) throw Error(where(index, "tool_calls"), "must be an array");
  if (calls.size() != 1)
    throw Error(where(index, "tool_calls"), "This model only supports single tool-calls at once!");
  const ojson& call = calls[0];
  auto fn_it = call.is_object() ? call.find("function") : call.end();
  if (!call.is_object() || fn_it == call.end() || !fn_it->is_object())
    throw Error(where(index, "tool_calls[0]"), "has no function object");
  const ojson& fn = *fn_it;
  auto name_it = fn.find("name");
  if (name_it == fn.end() || !name_it->is_string())
    throw Error(where(index, "tool_calls[0].function.name"), "must be a string");
  const std::string& name = name_it->get_ref<const std::string&>();
  auto args_it = fn.find("arguments");
  const auto& builtins = opts.builtin_tools;
  bool builtin = std::find(builtins.begin(), builtins.end(), name) != builtins.end();

  append_header(out, "assistant");
  if (builtin) {
    // Builtin calls are written Python-style with the argument values pasted in raw.
    out.special(llama31::kPythonTag);
    out += name + ".call(";
    if (args_it != fn.end()) {
      if (!args_it->is_object())
        throw Error(where(index, "tool_calls[0].function.arguments"),
                    "must be an object for a builtin tool");
      bool first = true;
      for (auto it = args_it->begin(); it != args_it->end(); ++it) {
        if (!it.value().is_string())
          throw Error(where(index, "tool_calls[0].function.arguments." + it.key()),
                      "must be a string for a builtin tool");
        if (!first) out += ", ";
        first = false;
        out += it.key() + "=\"" + it.value().get<std::string>() + "\"";
      }
    }
    out += ")";
  } else {
    if (args_it == fn.end())
      throw Error(where(index, "tool_calls[0].function"), "has no arguments");
    out += "{\"name\": \"" + name + "\", \"parameters\": " + pyfmt::dumps(*args_it) + "}";
  }
  // With builtin tools the model is in ipython mode, where every tool call ends with eom.
  out.special(builtins.empty() ? llama31::kEot : llama31::kEom);
}

void append_tool_result(Out& out, const ojson& message, size_t index) {
  append_header(out, "ipython");
  auto it = message.find("content");
  if (it == message.end()) throw Error(where(index), "tool message has no content");
  // Jinja's "is iterable" is true of strings too, so a string result is written as JSON.
  if (it->is_string() || it->is_array() || it->is_object())
    out += pyfmt::dumps(*it);
  else
    out += pyfmt::str(*it);
  out.special(llama31::kEot);
}

void append_tool_definitions(Out& out, const ojson& tools) {
  for (const ojson& t : tools) {
    out += pyfmt::dumps(t, 4);
    out += "\n\n";
  }
}

}  // namespace

std::string render_llama31_chat(const nlohmann::ordered_json& messages,
                                const ChatTemplateOptions& opts) {
  return render_llama31_chat_marked(messages, opts).text;
}

RenderedChat render_llama31_chat_marked(const nlohmann::ordered_json& messages,
                                        const ChatTemplateOptions& opts) {
  validate(messages, opts);
  const bool has_tools = !opts.tools.is_null();
  const bool has_builtins = !opts.builtin_tools.empty();

  Out out;
  if (!opts.bos_token.empty()) out.special(opts.bos_token);
  size_t next = 0;
  std::string system_message;
  if (messages[0]["role"] == "system") {
    system_message = trimmed_content(messages[0]);
    next = 1;
  }

  append_header(out, "system");
  if (has_builtins || has_tools) out += "Environment: ipython\n";
  if (has_builtins) {
    out += "Tools: ";
    bool first = true;
    for (const auto& tool : opts.builtin_tools) {
      if (tool == "code_interpreter") continue;
      if (!first) out += ", ";
      first = false;
      out += tool;
    }
    out += "\n\n";
  }
  out += "Cutting Knowledge Date: December 2023\n";
  out += "Today Date: " + opts.date_string.value_or(kDefaultDate) + "\n\n";
  if (has_tools && !opts.tools_in_user_message) {
    out +=
        "You have access to the following functions. To call a function, please respond with JSON "
        "for a function call.";
    out += kFormatHint;
    append_tool_definitions(out, opts.tools);
  }
  out += system_message;
  out.special(llama31::kEot);

  if (has_tools && opts.tools_in_user_message) {
    if (next >= messages.size())
      throw Error("messages",
                  "Cannot put tools in the first user message when there's no first user message!");
    std::string first_user_message = trimmed_content(messages[next]);
    ++next;
    append_header(out, "user");
    out +=
        "Given the following functions, please respond with a JSON for a function call with its "
        "proper arguments that best answers the given prompt.\n\n";
    out += kFormatHint;
    append_tool_definitions(out, opts.tools);
    out += first_user_message;
    out.special(llama31::kEot);
  }

  for (size_t i = next; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    const std::string& role = m["role"].get_ref<const std::string&>();
    if (m.contains("tool_calls")) {
      append_tool_call(out, m, i, opts);
    } else if (role == "tool" || role == "ipython") {
      append_tool_result(out, m, i);
    } else {
      append_header(out, role);
      out += trimmed_content(m);
      out.special(llama31::kEot);
    }
  }
  if (opts.add_generation_prompt) append_header(out, "assistant");
  return out.take();
}

}  // namespace hearth
