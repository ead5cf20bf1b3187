#include "server/openai_request.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "chat/openai_messages.h"
#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/json_limits.h"
#include "util/error.h"

namespace hearth::server {
namespace {

using namespace fields;  // NOLINT: the typed readers read better unqualified

constexpr int kMaxChoices = 128;
constexpr int kMaxStops = 16;

SamplingFields sampling_fields(const ojson& body, int64_t vocab, bool chat) {
  SamplingFields s;
  s.sampling.temperature = 1.0f;
  s.sampling.top_p = 1.0f;
  s.sampling.top_k = 0;
  s.sampling.min_p = 0.0f;
  if (auto t = number(body, "temperature", 0, 2)) s.sampling.temperature = static_cast<float>(*t);
  if (auto p = number(body, "top_p", 0, 1)) {
    // top_p 0 keeps only the most likely token: greedy.
    if (*p == 0)
      s.sampling.temperature = 0;
    else
      s.sampling.top_p = static_cast<float>(*p);
  }
  if (auto k = integer(body, "top_k", 0, INT32_MAX)) s.sampling.top_k = static_cast<int>(*k);
  if (auto m = number(body, "min_p", 0, 0.999999)) s.sampling.min_p = static_cast<float>(*m);
  if (auto r = number(body, "repeat_penalty", 0.01, 10)) s.repetition_penalty = float(*r);
  if (auto p = number(body, "presence_penalty", -2, 2)) s.presence_penalty = float(*p);
  if (auto f = number(body, "frequency_penalty", -2, 2)) s.frequency_penalty = float(*f);

  if (const ojson* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) throw wrong_type("logit_bias", "an object", *lb);
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      const std::string& key = it.key();
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (...) {
        used = 0;
      }
      if (used != key.size() || key.empty() || id < 0 || id >= vocab)
        throw invalid_request("Invalid key in 'logit_bias': '" + key +
                                  "' is not a token id of this model (0.." +
                                  std::to_string(vocab - 1) + ").",
                              "logit_bias", "invalid_value");
      if (!it.value().is_number()) throw wrong_type("logit_bias." + key, "a number", it.value());
      double b = it.value().get<double>();
      if (!(b >= -100 && b <= 100))
        throw invalid_request("Invalid value in 'logit_bias' for token " + key +
                                  ": expected a value between -100 and 100.",
                              "logit_bias", "invalid_value");
      s.logit_bias.push_back({static_cast<int32_t>(id), static_cast<float>(b)});
    }
  }

  std::optional<int64_t> mt;
  if (chat) mt = integer(body, "max_completion_tokens", 1, INT32_MAX);
  if (!mt) mt = integer(body, "max_tokens", chat ? 1 : 0, INT32_MAX);
  if (mt) s.max_tokens = static_cast<int>(*mt);

  if (const ojson* st = field(body, "stop")) {
    if (st->is_string()) {
      s.stop.push_back(st->get<std::string>());
    } else if (st->is_array()) {
      if (st->size() > kMaxStops)
        throw invalid_request("'stop' takes at most " + std::to_string(kMaxStops) + " strings.",
                              "stop", "invalid_value");
      for (auto& x : *st) {
        if (!x.is_string()) throw wrong_type("stop", "a string or an array of strings", x);
        s.stop.push_back(x.get<std::string>());
      }
    } else {
      throw wrong_type("stop", "a string or an array of strings", *st);
    }
  }
  if (auto n = integer(body, "n", 1, kMaxChoices)) s.n = static_cast<int>(*n);
  if (auto seed = integer(body, "seed", INT64_MIN, INT64_MAX))
    s.seed = static_cast<uint64_t>(*seed);
  if (auto st = boolean(body, "stream")) s.stream = *st;
  if (const ojson* so = field(body, "stream_options")) {
    if (!so->is_object()) throw wrong_type("stream_options", "an object", *so);
    if (auto iu = boolean(*so, "include_usage")) s.include_usage = *iu;
  }
  (void)string(body, "user");  // accepted, type-checked, unused
  return s;
}

void check_messages(const ojson& messages) {
  if (!messages.is_array()) throw wrong_type("messages", "an array", messages);
  if (messages.empty())
    throw invalid_request("'messages' must contain at least one message.", "messages",
                          "invalid_value");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const ojson& m = messages[i];
    if (!m.is_object()) throw wrong_type(where, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      throw invalid_request("Missing or invalid 'role' in " + where + ".", where + ".role");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool" &&
        r != "ipython")
      throw invalid_request("Invalid value for '" + where + ".role': '" + r +
                                "'. Supported values are: 'system', 'developer', 'user', "
                                "'assistant' and 'tool'.",
                            where + ".role", "invalid_value");
    auto content = m.find("content");
    const bool has_content = content != m.end() && !content->is_null();
    auto calls = m.find("tool_calls");
    const bool has_calls = calls != m.end() && !calls->is_null();
    if (has_content && !content->is_string() && !content->is_array())
      throw wrong_type(where + ".content", "a string or an array of content parts", *content);
    if (!has_content && !(r == "assistant"))
      throw invalid_request("Missing required parameter: '" + where + ".content'.",
                            where + ".content", "missing_required_parameter");
    if (has_calls) {
      if (r != "assistant")
        throw invalid_request("Only assistant messages may have 'tool_calls'.",
                              where + ".tool_calls");
      if (!calls->is_array()) throw wrong_type(where + ".tool_calls", "an array", *calls);
      for (size_t j = 0; j < calls->size(); ++j) {
        const std::string w = where + ".tool_calls[" + std::to_string(j) + "]";
        const ojson& c = (*calls)[j];
        if (!c.is_object()) throw wrong_type(w, "an object", c);
        auto fn = c.find("function");
        if (fn == c.end() || !fn->is_object())
          throw invalid_request("Missing required parameter: '" + w + ".function'.",
                                w + ".function", "missing_required_parameter");
        auto name = fn->find("name");
        if (name == fn->end() || !name->is_string())
          throw invalid_request("Missing required parameter: '" + w + ".function.name'.",
                                w + ".function.name", "missing_required_parameter");
        auto args = fn->find("arguments");
        if (args != fn->end() && !args->is_string() && !args->is_object())
          throw wrong_type(w + ".function.arguments", "a string", *args);
      }
    }
  }
}

}  // namespace

ojson parse_json_body(const std::string& body, int max_depth) {
  if (json_nesting_depth(body, max_depth) > max_depth)
    throw invalid_request("The request body nests arrays and objects deeper than " +
                              std::to_string(max_depth) + " levels.",
                          "", "json_too_deep");
  ojson j = ojson::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw invalid_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
        "", "invalid_json");
  if (!j.is_object())
    throw invalid_request("The request body must be a JSON object.", "", "invalid_json");
  return j;
}

ChatRequest parse_chat_request(const ojson& body, int64_t vocab) {
  ChatRequest r;
  r.model = model_field(body);
  const ojson* messages = field(body, "messages");
  if (!messages)
    throw invalid_request("Missing required parameter: 'messages'.", "messages",
                          "missing_required_parameter");
  check_messages(*messages);
  try {
    r.messages = normalize_openai_messages(*messages);
  } catch (const Error& e) {
    throw invalid_request(e.what(), "messages");
  }
  for (auto& m : r.messages)
    if (m["role"] == "developer") m["role"] = "system";  // OpenAI's newer name for it

  r.s = sampling_fields(body, vocab, /*chat=*/true);
  if (auto lp = boolean(body, "logprobs")) r.logprobs = *lp;
  if (auto tl = integer(body, "top_logprobs", 0, 20)) {
    if (!r.logprobs)
      throw invalid_request("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs",
                            "invalid_value");
    r.top_logprobs = static_cast<int>(*tl);
  }

  if (const ojson* rf = field(body, "response_format")) {
    if (!rf->is_object()) throw wrong_type("response_format", "an object", *rf);
    auto type = string(*rf, "type");
    if (!type)
      throw invalid_request("Missing required parameter: 'response_format.type'.",
                            "response_format.type", "missing_required_parameter");
    if (*type == "json_object")
      r.json_object = true;
    else if (*type == "json_schema")
      parse_json_schema_format(*rf, r.structured);
    else if (*type != "text")
      throw invalid_request("Invalid value for 'response_format.type': '" + *type +
                                "'. Supported values are: 'text', 'json_object' and "
                                "'json_schema'.",
                            "response_format.type", "invalid_value");
  }

  if (const ojson* tools = field(body, "tools")) {
    if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
    for (size_t i = 0; i < tools->size(); ++i) {
      const std::string w = "tools[" + std::to_string(i) + "]";
      const ojson& t = (*tools)[i];
      if (!t.is_object()) throw wrong_type(w, "an object", t);
      auto type = string(t, "type");
      if (type && *type != "function")
        throw invalid_request("Invalid value for '" + w + ".type': only 'function' is supported.",
                              w + ".type", "invalid_value");
      const ojson* fn = field(t, "function");
      if (!fn || !fn->is_object())
        throw invalid_request("Missing required parameter: '" + w + ".function'.", w + ".function",
                              "missing_required_parameter");
      auto name = string(*fn, "name");
      if (!name || !valid_function_name(*name))
        throw invalid_request("Invalid '" + w +
                                  ".function.name': expected a string matching "
                                  "^[a-zA-Z0-9_-]{1,64}$.",
                              w + ".function.name", "invalid_value");
      if (const ojson* params = field(*fn, "parameters"); params && !params->is_object())
        throw wrong_type(w + ".function.parameters", "an object", *params);
      parse_tool_strictness(*fn, i, r.structured);
      r.tool_names.push_back(*name);
    }
    if (!tools->empty()) r.tools = *tools;
  }
  if (const ojson* tc = field(body, "tool_choice")) {
    if (tc->is_string()) {
      const std::string v = tc->get<std::string>();
      if (v == "none")
        r.tool_choice = ToolChoice::kNone;
      else if (v == "auto")
        r.tool_choice = ToolChoice::kAuto;
      else if (v == "required")
        r.tool_choice = ToolChoice::kRequired;
      else
        throw invalid_request("Invalid value for 'tool_choice': '" + v +
                                  "'. Supported values are: 'none', 'auto' and 'required'.",
                              "tool_choice", "invalid_value");
    } else if (tc->is_object()) {
      const ojson* fn = field(*tc, "function");
      std::optional<std::string> name = fn && fn->is_object() ? string(*fn, "name") : std::nullopt;
      if (!name)
        throw invalid_request("Missing required parameter: 'tool_choice.function.name'.",
                              "tool_choice.function.name", "missing_required_parameter");
      r.tool_choice = ToolChoice::kNamed;
      r.tool_name = *name;
    } else {
      throw wrong_type("tool_choice", "a string or an object", *tc);
    }
    if ((r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed) &&
        r.tools.is_null())
      throw invalid_request("'tool_choice' is only allowed when 'tools' are specified.",
                            "tool_choice", "invalid_value");
    if (r.tool_choice == ToolChoice::kNamed &&
        std::find(r.tool_names.begin(), r.tool_names.end(), r.tool_name) == r.tool_names.end())
      throw invalid_request(
          "Invalid 'tool_choice': no function named '" + r.tool_name + "' in 'tools'.",
          "tool_choice", "invalid_value");
  }
  if (r.tools.is_null()) r.tool_choice = ToolChoice::kNone;
  if ((r.json_object || r.structured.has_response_schema()) &&
      (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed))
    throw invalid_request(std::string("'response_format' ") +
                              (r.json_object ? "json_object" : "json_schema") +
                              " cannot be combined with a required tool call.",
                          "response_format", "invalid_value");
  return r;
}

CompletionRequest parse_completion_request(const ojson& body, int64_t vocab) {
  CompletionRequest r;
  r.model = model_field(body);
  const ojson* p = field(body, "prompt");
  if (!p)
    throw invalid_request("Missing required parameter: 'prompt'.", "prompt",
                          "missing_required_parameter");
  auto token_list = [&](const ojson& arr) {
    CompletionPrompt cp;
    cp.is_tokens = true;
    for (auto& t : arr) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab)
        throw invalid_request(
            "Invalid 'prompt': token ids must be integers in 0.." + std::to_string(vocab - 1) + ".",
            "prompt", "invalid_value");
      cp.tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    if (cp.tokens.empty())
      throw invalid_request("Invalid 'prompt': empty token list.", "prompt", "invalid_value");
    return cp;
  };
  auto text = [](const std::string& s) {
    CompletionPrompt cp;
    cp.text = s;
    return cp;
  };
  if (p->is_string()) {
    r.prompts.push_back(text(p->get<std::string>()));
  } else if (p->is_array() && !p->empty()) {
    if ((*p)[0].is_number()) {
      r.prompts.push_back(token_list(*p));
    } else {
      for (auto& item : *p) {
        if (item.is_string())
          r.prompts.push_back(text(item.get<std::string>()));
        else if (item.is_array())
          r.prompts.push_back(token_list(item));
        else
          throw wrong_type("prompt", "a string, an array of strings or of token ids", item);
      }
    }
  } else {
    throw wrong_type("prompt", "a string, an array of strings or of token ids", *p);
  }
  r.s = sampling_fields(body, vocab, /*chat=*/false);
  if (auto e = boolean(body, "echo")) r.echo = *e;
  if (auto lp = integer(body, "logprobs", 0, 5)) r.logprobs = static_cast<int>(*lp);
  if (field(body, "suffix"))
    throw invalid_request("'suffix' is not supported by this model.", "suffix",
                          "unsupported_value");
  (void)integer(body, "best_of", 1, 1);  // several candidates per choice: not supported
  return r;
}

}  // namespace hearth::server
