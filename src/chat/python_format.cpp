#include "chat/python_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "util/error.h"

namespace hearth::pyfmt {
namespace {

using ojson = nlohmann::ordered_json;

// Decodes one UTF-8 sequence at text[i]; returns its length (1 for a byte that does not start a
// valid sequence, reported as cp = -1 so callers pass it through untouched).
size_t decode_utf8(std::string_view text, size_t i, int32_t& cp) {
  auto b = static_cast<unsigned char>(text[i]);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > text.size()) {
    cp = -1;
    return 1;
  }
  if (len == 1) {
    cp = b;
    return 1;
  }
  int32_t v = b & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(text[i + k]);
    if ((c & 0xc0) != 0x80) {
      cp = -1;
      return 1;
    }
    v = (v << 6) | (c & 0x3f);
  }
  cp = v;
  return len;
}

bool is_py_space(int32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20);
  if (cp >= 0x2000 && cp <= 0x200a) return true;
  for (int32_t s : {0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000})
    if (cp == s) return true;
  return false;
}

// Code points >= 0x80 that str.isprintable() rejects (Unicode 14, as Python 3.11), except the
// unassigned ones (category Cn), which would need the whole Unicode database: those print raw here
// where Python escapes them. Surrogates cannot occur in valid UTF-8.
constexpr int32_t kNonPrintable[][2] = {
    {0x80, 0xa0},       {0xad, 0xad},       {0x600, 0x605},       {0x61c, 0x61c},
    {0x6dd, 0x6dd},     {0x70f, 0x70f},     {0x890, 0x891},       {0x8e2, 0x8e2},
    {0x1680, 0x1680},   {0x180e, 0x180e},   {0x2000, 0x200f},     {0x2028, 0x202f},
    {0x205f, 0x2064},   {0x2066, 0x206f},   {0x3000, 0x3000},     {0xe000, 0xf8ff},
    {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd},   {0x110cd, 0x110cd},
    {0x13430, 0x13438}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a},   {0xe0001, 0xe0001},
    {0xe0020, 0xe007f}, {0xf0000, 0xffffd}, {0x100000, 0x10fffd},
};

bool is_py_printable(int32_t cp) {
  for (const auto& r : kNonPrintable)
    if (cp >= r[0] && cp <= r[1]) return false;
  return true;
}

void append_hex(std::string& out, const char* prefix, uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, digits, v);
  out += buf;
}

void dumps_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20)
          append_hex(out, "\\u", c, 4);
        else
          out += ch;
    }
  }
  out += '"';
}

void repr_string(std::string& out, std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (size_t i = 0; i < s.size();) {
    int32_t cp;
    size_t len = decode_utf8(s, i, cp);
    if (cp == quote || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp >= 0 && (cp < 0x20 || cp == 0x7f)) {
      append_hex(out, "\\x", static_cast<uint32_t>(cp), 2);
    } else if (cp >= 0x80 && !is_py_printable(cp)) {
      if (cp <= 0xff)
        append_hex(out, "\\x", static_cast<uint32_t>(cp), 2);
      else if (cp <= 0xffff)
        append_hex(out, "\\u", static_cast<uint32_t>(cp), 4);
      else
        append_hex(out, "\\U", static_cast<uint32_t>(cp), 8);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += quote;
}

// nan/inf are spelled differently by json.dumps (NaN, Infinity) and repr (nan, inf).
std::string float_text(double v, bool json) {
  if (std::isnan(v)) return json ? "NaN" : "nan";
  if (std::isinf(v)) return v > 0 ? (json ? "Infinity" : "inf") : (json ? "-Infinity" : "-inf");
  return float_repr(v);
}

void dumps_value(std::string& out, const ojson& v, int indent, int level) {
  auto newline = [&](int lvl) {
    out += '\n';
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(lvl), ' ');
  };
  switch (v.type()) {
    case ojson::value_t::null:
      out += "null";
      return;
    case ojson::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case ojson::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case ojson::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case ojson::value_t::number_float:
      out += float_text(v.get<double>(), true);
      return;
    case ojson::value_t::string:
      dumps_string(out, v.get_ref<const std::string&>());
      return;
    case ojson::value_t::array:
    case ojson::value_t::object: {
      bool is_obj = v.is_object();
      if (v.empty()) {
        out += is_obj ? "{}" : "[]";
        return;
      }
      out += is_obj ? '{' : '[';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) newline(level + 1);
        if (is_obj) {
          dumps_string(out, it.key());
          out += ": ";
        }
        dumps_value(out, it.value(), indent, level + 1);
      }
      if (indent >= 0) newline(level);
      out += is_obj ? '}' : ']';
      return;
    }
    default:
      throw Error("tojson", "binary values cannot be written as JSON");
  }
}

void repr_value(std::string& out, const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null:
      out += "None";
      return;
    case ojson::value_t::boolean:
      out += v.get<bool>() ? "True" : "False";
      return;
    case ojson::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case ojson::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case ojson::value_t::number_float:
      out += float_text(v.get<double>(), false);
      return;
    case ojson::value_t::string:
      repr_string(out, v.get_ref<const std::string&>());
      return;
    case ojson::value_t::array:
    case ojson::value_t::object: {
      bool is_obj = v.is_object();
      out += is_obj ? '{' : '[';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        if (is_obj) {
          repr_string(out, it.key());
          out += ": ";
        }
        repr_value(out, it.value());
      }
      out += is_obj ? '}' : ']';
      return;
    }
    default:
      throw Error("repr", "binary values have no Python spelling");
  }
}

}  // namespace

std::string float_repr(double value) {
  if (!std::isfinite(value)) return float_text(value, false);
  // Shortest round-trip digits come from to_chars; only the layout is Python's.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos))
    if (c != '.') digits += c;
  int exp10 = 0;
  std::string_view exp_text = sci.substr(e_pos + 1);
  if (exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  int decpt = exp10 + 1;  // digits d1 d2 ... stand for 0.d1d2... * 10^decpt
  int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (n > 1) {
      out += '.';
      out += digits.substr(1);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += ebuf;
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-decpt), '0');
    out += digits;
  } else if (decpt >= n) {
    out += digits;
    out.append(static_cast<size_t>(decpt - n), '0');
    out += ".0";
  } else {
    out += digits.substr(0, static_cast<size_t>(decpt));
    out += '.';
    out += digits.substr(static_cast<size_t>(decpt));
  }
  return out;
}

std::string dumps(const nlohmann::ordered_json& value, int indent) {
  std::string out;
  dumps_value(out, value, indent, 0);
  return out;
}

std::string repr(const nlohmann::ordered_json& value) {
  std::string out;
  repr_value(out, value);
  return out;
}

std::string str(const nlohmann::ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  return repr(value);
}

std::string_view strip(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    int32_t cp;
    size_t len = decode_utf8(text, begin, cp);
    if (!is_py_space(cp)) break;
    begin += len;
  }
  size_t end = text.size();
  while (end > begin) {
    size_t start = end - 1;  // back up to the lead byte of the last sequence
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xc0) == 0x80 &&
           end - start < 4)
      --start;
    int32_t cp;
    size_t len = decode_utf8(text, start, cp);
    if (start + len != end) {
      cp = -1;  // the bytes before end are not one whole sequence
      len = 1;
      start = end - 1;
    }
    if (!is_py_space(cp)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

}  // namespace hearth::pyfmt
