#include "server/openai_response.h"

#include "server/ids.h"

namespace hearth::server {
namespace {

constexpr const char* kFingerprint = "fp_hearth";

ojson bytes_array(const std::string& s) {
  ojson a = ojson::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

// Token text for display; dump() later replaces any broken UTF-8 with U+FFFD.
std::string token_text(const Tokenizer& tok, int32_t id) {
  return tok.token_bytes(id);
}

ojson header_json(const ResponseHeader& h, const char* object) {
  ojson j;
  j["id"] = h.id;
  j["object"] = object;
  j["created"] = h.created;
  j["model"] = h.model;
  j["system_fingerprint"] = kFingerprint;
  return j;
}

class ChatFormatter : public ResponseFormatter {
 public:
  ChatFormatter(const Tokenizer& tok, ResponseHeader h, ChatFormat f)
      : tok_(tok), h_(std::move(h)), f_(f), choices_(static_cast<size_t>(f.n_choices)) {}

  std::vector<ojson> stream_open() override {
    std::vector<ojson> out;
    for (int i = 0; i < f_.n_choices; ++i) {
      ojson delta;
      delta["role"] = "assistant";
      delta["content"] = "";
      out.push_back(chunk(i, delta, nullptr, nullptr));
    }
    return out;
  }

  std::vector<ojson> stream_update(int i, const ChoiceUpdate& u) override {
    std::vector<ojson> out;
    if (!u.text.empty() || (f_.logprobs && !u.tokens.empty())) {
      ojson delta;
      delta["content"] = u.text;
      out.push_back(chunk(i, delta, f_.logprobs ? logprobs(u.tokens) : ojson(nullptr), nullptr));
    }
    if (u.finished) {
      if (!u.tool_calls.empty()) {
        ojson calls = ojson::array();
        for (size_t k = 0; k < u.tool_calls.size(); ++k) {
          ojson c = tool_call_json(u.tool_calls[k], random_id("call_"));
          ojson indexed;
          indexed["index"] = k;
          for (auto& [key, v] : c.items()) indexed[key] = v;
          calls.push_back(indexed);
        }
        ojson delta;
        delta["tool_calls"] = calls;
        out.push_back(chunk(i, delta, nullptr, nullptr));
      }
      out.push_back(chunk(i, ojson::object(), nullptr, u.finish_reason.c_str()));
    }
    return out;
  }

  ojson stream_usage(const Usage& u) override {
    ojson j = header_json(h_, "chat.completion.chunk");
    j["choices"] = ojson::array();
    j["usage"] = usage_json(u);
    return j;
  }

  void add(int i, const ChoiceUpdate& u) override {
    Choice& c = choices_[static_cast<size_t>(i)];
    c.text += u.text;
    for (auto& t : u.tokens) c.logprobs.push_back(chat_logprob_entry(tok_, t));
    if (u.finished) {
      c.finish = u.finish_reason;
      for (auto& call : u.tool_calls)
        c.tool_calls.push_back(tool_call_json(call, random_id("call_")));
    }
  }

  ojson response(const Usage& u) override {
    ojson j = header_json(h_, "chat.completion");
    ojson choices = ojson::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      ojson msg;
      msg["role"] = "assistant";
      msg["content"] = c.text.empty() && !c.tool_calls.empty() ? ojson(nullptr) : ojson(c.text);
      if (!c.tool_calls.empty()) msg["tool_calls"] = c.tool_calls;
      msg["refusal"] = nullptr;
      ojson choice;
      choice["index"] = i;
      choice["message"] = msg;
      if (f_.logprobs) {
        ojson lp;
        lp["content"] = c.logprobs;
        lp["refusal"] = nullptr;
        choice["logprobs"] = lp;
      } else {
        choice["logprobs"] = nullptr;
      }
      choice["finish_reason"] = c.finish;
      choices.push_back(choice);
    }
    j["choices"] = choices;
    j["usage"] = usage_json(u);
    return j;
  }

 private:
  struct Choice {
    std::string text;
    ojson logprobs = ojson::array();
    ojson tool_calls = ojson::array();
    std::string finish;
  };

  ojson logprobs(const std::vector<TokenInfo>& tokens) {
    ojson content = ojson::array();
    for (auto& t : tokens) content.push_back(chat_logprob_entry(tok_, t));
    ojson lp;
    lp["content"] = content;
    lp["refusal"] = nullptr;
    return lp;
  }

  ojson chunk(int i, ojson delta, ojson logprobs, const char* finish) {
    ojson j = header_json(h_, "chat.completion.chunk");
    ojson choice;
    choice["index"] = i;
    choice["delta"] = std::move(delta);
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = finish ? ojson(finish) : ojson(nullptr);
    j["choices"] = ojson::array({choice});
    if (h_.include_usage_field) j["usage"] = nullptr;
    return j;
  }

  const Tokenizer& tok_;
  ResponseHeader h_;
  ChatFormat f_;
  std::vector<Choice> choices_;
};

class CompletionFormatter : public ResponseFormatter {
 public:
  CompletionFormatter(const Tokenizer& tok, ResponseHeader h, CompletionFormat f)
      : tok_(tok), h_(std::move(h)), f_(std::move(f)), choices_(static_cast<size_t>(f_.n_choices)) {
    f_.echo_text.resize(choices_.size());
    f_.echo_tokens.resize(choices_.size());
    for (size_t i = 0; i < choices_.size(); ++i) {
      choices_[i].text = f_.echo_text[i];
      choices_[i].echo_bytes = f_.echo_text[i].size();
      if (f_.logprobs >= 0) add_echo_logprobs(choices_[i], f_.echo_tokens[i]);
    }
  }

  std::vector<ojson> stream_open() override {
    std::vector<ojson> out;
    for (size_t i = 0; i < choices_.size(); ++i) {
      if (f_.echo_text[i].empty()) continue;
      Choice& c = choices_[i];
      out.push_back(chunk(static_cast<int>(i), c.text, logprobs_since(c), nullptr));
    }
    return out;
  }

  std::vector<ojson> stream_update(int i, const ChoiceUpdate& u) override {
    std::vector<ojson> out;
    Choice& c = choices_[static_cast<size_t>(i)];
    append(c, u);
    if (!u.text.empty() || (f_.logprobs >= 0 && !u.tokens.empty()))
      out.push_back(chunk(i, u.text, logprobs_since(c), nullptr));
    if (u.finished) out.push_back(chunk(i, "", nullptr, u.finish_reason.c_str()));
    return out;
  }

  ojson stream_usage(const Usage& u) override {
    ojson j = header_json(h_, "text_completion");
    j["choices"] = ojson::array();
    j["usage"] = usage_json(u);
    return j;
  }

  void add(int i, const ChoiceUpdate& u) override { append(choices_[static_cast<size_t>(i)], u); }

  ojson response(const Usage& u) override {
    ojson j = header_json(h_, "text_completion");
    ojson choices = ojson::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      Choice& c = choices_[i];
      ojson choice;
      choice["text"] = c.text;
      choice["index"] = i;
      choice["logprobs"] = f_.logprobs >= 0 ? logprobs_json(c, 0) : ojson(nullptr);
      choice["finish_reason"] = c.finish;
      choices.push_back(choice);
    }
    j["choices"] = choices;
    j["usage"] = usage_json(u);
    return j;
  }

 private:
  struct Entry {
    std::string token;
    ojson logprob;  // null for echoed prompt tokens: the scheduler does not score prompts
    ojson top;
    size_t offset;  // characters before this token in the choice's text
  };
  struct Choice {
    std::string text;  // echo + generated
    size_t echo_bytes = 0;
    std::vector<Entry> entries;
    size_t streamed = 0;  // entries already sent in chunks
    std::string finish;
  };

  void add_echo_logprobs(Choice& c, const std::vector<int32_t>& tokens) {
    std::string so_far;
    for (int32_t t : tokens) {
      c.entries.push_back(
          {token_text(tok_, t), nullptr, nullptr, count_chars(so_far, so_far.size())});
      so_far += tok_.token_bytes(t);
    }
  }

  void append(Choice& c, const ChoiceUpdate& u) {
    const size_t base = c.echo_bytes;
    c.text += u.text;
    for (auto& t : u.tokens) {
      ojson top = ojson::object();
      for (auto& alt : t.top) top[token_text(tok_, alt.token)] = alt.logprob;
      // Offsets index the choice's text: echo first, then generated characters.
      const size_t gen_begin = std::min(t.text_begin, c.text.size() - base);
      c.entries.push_back(
          {token_text(tok_, t.token), t.logprob, top, count_chars(c.text, base + gen_begin)});
    }
    if (u.finished) c.finish = u.finish_reason;
  }

  ojson logprobs_json(const Choice& c, size_t from) {
    ojson tokens = ojson::array(), lps = ojson::array(), tops = ojson::array(),
          offsets = ojson::array();
    for (size_t k = from; k < c.entries.size(); ++k) {
      tokens.push_back(c.entries[k].token);
      lps.push_back(c.entries[k].logprob);
      tops.push_back(c.entries[k].top);
      offsets.push_back(c.entries[k].offset);
    }
    ojson j;
    j["tokens"] = tokens;
    j["token_logprobs"] = lps;
    j["top_logprobs"] = tops;
    j["text_offset"] = offsets;
    return j;
  }

  ojson logprobs_since(Choice& c) {
    if (f_.logprobs < 0) return nullptr;
    ojson j = logprobs_json(c, c.streamed);
    c.streamed = c.entries.size();
    return j;
  }

  ojson chunk(int i, const std::string& text, ojson logprobs, const char* finish) {
    ojson j = header_json(h_, "text_completion");
    ojson choice;
    choice["text"] = text;
    choice["index"] = i;
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = finish ? ojson(finish) : ojson(nullptr);
    j["choices"] = ojson::array({choice});
    if (h_.include_usage_field) j["usage"] = nullptr;
    return j;
  }

  const Tokenizer& tok_;
  ResponseHeader h_;
  CompletionFormat f_;
  std::vector<Choice> choices_;
};

}  // namespace

ojson usage_json(const Usage& u) {
  ojson j;
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  j["prompt_tokens_details"] = {{"cached_tokens", u.cached_tokens}};
  return j;
}

ojson tool_call_json(const ToolCall& call, const std::string& id) {
  ojson fn;
  fn["name"] = call.name;
  fn["arguments"] = call.arguments.dump(-1, ' ', false, ojson::error_handler_t::replace);
  ojson j;
  j["id"] = id;
  j["type"] = "function";
  j["function"] = fn;
  return j;
}

ojson chat_logprob_entry(const Tokenizer& tok, const TokenInfo& t) {
  ojson j;
  const std::string b = tok.token_bytes(t.token);
  j["token"] = b;
  j["logprob"] = t.logprob;
  j["bytes"] = bytes_array(b);
  ojson top = ojson::array();
  for (auto& alt : t.top) {
    const std::string ab = tok.token_bytes(alt.token);
    ojson a;
    a["token"] = ab;
    a["logprob"] = alt.logprob;
    a["bytes"] = bytes_array(ab);
    top.push_back(a);
  }
  j["top_logprobs"] = top;
  return j;
}

size_t count_chars(const std::string& s, size_t end) {
  size_t n = 0;
  for (size_t i = 0; i < end && i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  return n;
}

std::unique_ptr<ResponseFormatter> make_chat_formatter(const Tokenizer& tok, ResponseHeader h,
                                                       ChatFormat f) {
  return std::make_unique<ChatFormatter>(tok, std::move(h), f);
}

std::unique_ptr<ResponseFormatter> make_completion_formatter(const Tokenizer& tok, ResponseHeader h,
                                                             CompletionFormat f) {
  return std::make_unique<CompletionFormatter>(tok, std::move(h), std::move(f));
}

}  // namespace hearth::server
