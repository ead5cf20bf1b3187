#include "chat/tool_calls.h"

#include <charconv>
#include <cstdint>
#include <optional>

#include "chat/python_format.h"
#include "chat/special_tokens.h"
#include "tokenizer/utf8.h"

namespace hearth {
namespace {

using ojson = nlohmann::ordered_json;
using Calls = std::optional<std::vector<ToolCall>>;

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// End (one past) of the JSON object or array opening at s[pos], found by bracket depth outside
// strings; npos if it never closes. The real parser judges the contents afterwards.
size_t json_value_end(std::string_view s, size_t pos) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = pos; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ToolCall> call_from_json(const ojson& j, std::string_view raw) {
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    return std::nullopt;
  auto args = j.find("parameters");
  if (args == j.end()) args = j.find("arguments");
  if (args == j.end()) return std::nullopt;
  ToolCall call;
  call.name = name->get<std::string>();
  call.raw = std::string(raw);
  if (args->is_object()) {
    call.arguments = *args;
  } else if (args->is_string()) {
    call.arguments = ojson::parse(args->get_ref<const std::string&>(), nullptr, false);
    if (!call.arguments.is_object()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return call;
}

// One or more JSON calls filling all of s.
Calls parse_json_calls(std::string_view s) {
  std::vector<ToolCall> calls;
  size_t pos = 0;
  for (;;) {
    while (pos < s.size() && (is_space(s[pos]) || s[pos] == ';' || s[pos] == ',')) ++pos;
    if (pos == s.size()) break;
    if (s[pos] != '{' && s[pos] != '[') return std::nullopt;
    size_t end = json_value_end(s, pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view raw = s.substr(pos, end - pos);
    ojson j = ojson::parse(raw, nullptr, false);
    if (j.is_array()) {
      if (j.empty()) return std::nullopt;
      for (const ojson& item : j) {
        auto call = call_from_json(item, raw);
        if (!call) return std::nullopt;
        calls.push_back(std::move(*call));
      }
    } else {
      auto call = call_from_json(j, raw);
      if (!call) return std::nullopt;
      calls.push_back(std::move(*call));
    }
    pos = end;
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;  // a lone surrogate has no UTF-8 form
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Reads the Python-literal arguments of name.call(...): a small recursive-descent cursor.
class CallArgsReader {
 public:
  explicit CallArgsReader(std::string_view s) : s_(s) {}

  std::optional<ojson> read_args() {
    ojson args = ojson::object();
    skip_space();
    if (peek() == ')') return args;
    for (;;) {
      skip_space();
      std::string key = read_ident();
      if (key.empty()) return std::nullopt;
      skip_space();
      if (!eat('=')) return std::nullopt;
      skip_space();
      auto value = read_value();
      if (!value) return std::nullopt;
      args[key] = std::move(*value);
      skip_space();
      if (eat(',')) {
        skip_space();
        if (peek() == ')') return args;  // a trailing comma is valid Python
        continue;
      }
      if (peek() == ')') return args;
      return std::nullopt;
    }
  }

  std::string read_ident() {
    size_t start = pos_;
    if (pos_ < s_.size() && is_ident_start(s_[pos_])) {
      while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat_word(std::string_view w) {
    if (!starts_with(s_.substr(pos_), w)) return false;
    size_t after = pos_ + w.size();
    if (after < s_.size() && is_ident_char(s_[after])) return false;
    pos_ = after;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::optional<ojson> read_value() {
    char c = peek();
    if (c == '"' || c == '\'') return read_string();
    if (c == '{' || c == '[') {
      size_t end = json_value_end(s_, pos_);
      if (end == std::string_view::npos) return std::nullopt;
      ojson j = ojson::parse(s_.substr(pos_, end - pos_), nullptr, false);
      if (j.is_discarded()) return std::nullopt;
      pos_ = end;
      return j;
    }
    if (eat_word("True") || eat_word("true")) return ojson(true);
    if (eat_word("False") || eat_word("false")) return ojson(false);
    if (eat_word("None") || eat_word("null")) return ojson(nullptr);
    return read_number();
  }

  std::optional<ojson> read_number() {
    size_t start = pos_;
    if (peek() == '-' || peek() == '+') ++pos_;
    bool is_float = false, digits = false;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      bool exponent_sign = (c == '-' || c == '+') && (s_[pos_ - 1] == 'e' || s_[pos_ - 1] == 'E');
      if (c >= '0' && c <= '9')
        digits = true;
      else if (c == '.' || c == 'e' || c == 'E')
        is_float = true;
      else if (!exponent_sign)
        break;
      ++pos_;
    }
    if (!digits) return std::nullopt;
    std::string_view text = s_.substr(start, pos_ - start);
    if (text.front() == '+') text.remove_prefix(1);
    const char* end = text.data() + text.size();
    if (!is_float) {
      int64_t v = 0;
      auto r = std::from_chars(text.data(), end, v);
      if (r.ec == std::errc() && r.ptr == end) return ojson(v);
    }
    double d = 0;
    auto r = std::from_chars(text.data(), end, d);
    if (r.ec != std::errc() || r.ptr != end) return std::nullopt;
    return ojson(d);
  }

  bool read_hex(size_t n, uint32_t& v) {
    if (pos_ + n > s_.size()) return false;
    auto r = std::from_chars(s_.data() + pos_, s_.data() + pos_ + n, v, 16);
    if (r.ec != std::errc() || r.ptr != s_.data() + pos_ + n) return false;
    pos_ += n;
    return true;
  }

  std::optional<ojson> read_string() {
    char quote = s_[pos_++];
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == quote) return ojson(std::move(out));
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) return std::nullopt;
      char e = s_[pos_++];
      uint32_t cp = 0;
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case 'a':
          out += '\a';
          break;
        case '\\':
        case '\'':
        case '"':
          out += e;
          break;
        case '\n':
          break;  // line continuation
        case 'x':
          if (!read_hex(2, cp)) return std::nullopt;
          append_utf8(out, cp);
          break;
        case 'u':
          if (!read_hex(4, cp)) return std::nullopt;
          append_utf8(out, cp);
          break;
        case 'U':
          if (!read_hex(8, cp) || cp > 0x10ffff) return std::nullopt;
          append_utf8(out, cp);
          break;
        default:
          if (e >= '0' && e <= '7') {  // up to three octal digits
            cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k)
              cp = cp * 8 + static_cast<uint32_t>(s_[pos_++] - '0');
            append_utf8(out, cp);
          } else {  // Python keeps unknown escapes as written
            out += '\\';
            out += e;
          }
      }
    }
    return std::nullopt;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

bool looks_like_builtin_call(std::string_view s) {
  CallArgsReader r(s);
  return !r.read_ident().empty() && starts_with(s.substr(r.pos()), ".call(");
}

// name.call(...) filling all of s (already stripped).
Calls parse_builtin_call(std::string_view s) {
  CallArgsReader r(s);
  ToolCall call;
  call.name = r.read_ident();
  if (call.name.empty() || !r.eat('.') || !r.eat_word("call") || !r.eat('(')) return std::nullopt;
  auto args = r.read_args();
  if (!args || !r.eat(')')) return std::nullopt;
  r.skip_space();
  if (r.pos() != s.size()) return std::nullopt;
  call.arguments = std::move(*args);
  call.builtin = true;
  call.raw = std::string(s);
  return std::vector<ToolCall>{std::move(call)};
}

// What may follow <|python_tag|>; allow_code turns any other text into code_interpreter code.
Calls parse_tagged_body(std::string_view body, bool allow_code) {
  std::string_view s = pyfmt::strip(body);
  if (s.empty()) return std::nullopt;
  if (s.front() == '{' || s.front() == '[') return parse_json_calls(s);
  if (looks_like_builtin_call(s)) return parse_builtin_call(s);
  if (!allow_code) return std::nullopt;
  ToolCall call;
  call.name = "code_interpreter";
  call.arguments = ojson::object({{"code", std::string(s)}});
  call.builtin = true;
  call.raw = std::string(s);
  return std::vector<ToolCall>{std::move(call)};
}

}  // namespace

ParsedAssistant parse_llama31_output(std::string_view text, bool ended_with_eom) {
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (std::string_view stop : {llama31::kEot, llama31::kEom, llama31::kEndOfText}) {
      if (ends_with(text, stop)) {
        if (stop == llama31::kEom) ended_with_eom = true;
        text.remove_suffix(stop.size());
        stripped = true;
      }
    }
  }
  ParsedAssistant out;
  // Arguments lifted from ill-formed UTF-8 could not be serialized (JSON calls never parse from
  // it anyway): such text is content. Detokenized text is always well-formed.
  if (!utf8::is_valid(text)) {
    out.content = std::string(text);
    return out;
  }
  size_t tag = text.find(llama31::kPythonTag);
  Calls calls;
  if (tag != std::string_view::npos) {
    calls = parse_tagged_body(text.substr(tag + llama31::kPythonTag.size()), true);
    if (calls) out.content = std::string(pyfmt::strip(text.substr(0, tag)));
  } else {
    std::string_view s = pyfmt::strip(text);
    if (!s.empty() && (s.front() == '{' || s.front() == '['))
      calls = parse_json_calls(s);
    else if (ended_with_eom && !s.empty())
      calls = parse_tagged_body(s, false);
  }
  if (calls)
    out.tool_calls = std::move(*calls);
  else
    out.content = std::string(text);
  return out;
}

}  // namespace hearth
