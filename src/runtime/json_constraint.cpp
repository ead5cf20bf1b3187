#include "runtime/json_constraint.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "runtime/json_bytes.h"
#include "util/error.h"

namespace hearth {
namespace {

using namespace json_bytes;

using Mode = JsonConstraint::Mode;
using Cursor = JsonConstraint::Cursor;

// Whitespace between tokens is valid JSON but a runaway model could emit nothing else.
constexpr int kMaxWhitespaceRun = 32;
// Deeper nesting only adds closing cost; no real document needs it.
constexpr int kMaxDepth = 64;
constexpr int kMaxIntDigits = 200;
constexpr int kMaxExpDigits = 2;
constexpr const char* kLiterals[3] = {"true", "false", "null"};
constexpr uint8_t kLiteralLen[3] = {4, 5, 4};

int depth(const Cursor& c) {
  return c.base_len + c.n_pushed;
}
char top(const Cursor& c) {
  if (c.n_pushed > 0) return (c.pushed >> (c.n_pushed - 1)) & 1 ? 'a' : 'o';
  return c.base_len > 0 ? c.base[c.base_len - 1] : '\0';
}
bool push(Cursor& c, char kind) {
  if (c.n_pushed >= 64 || depth(c) >= kMaxDepth) return false;
  const uint64_t bit = uint64_t{1} << c.n_pushed;
  c.pushed = kind == 'a' ? (c.pushed | bit) : (c.pushed & ~bit);
  ++c.n_pushed;
  return true;
}
void pop(Cursor& c) {
  if (c.n_pushed > 0)
    --c.n_pushed;
  else
    --c.base_len;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// JsonConstraint

JsonConstraint::JsonConstraint(std::shared_ptr<const JsonVocab> vocab, JsonConstraintOptions opts)
    : vocab_(std::move(vocab)), opts_(std::move(opts)) {
  std::sort(opts_.prefixes.begin(), opts_.prefixes.end());
  opts_.prefixes.erase(std::unique(opts_.prefixes.begin(), opts_.prefixes.end()),
                       opts_.prefixes.end());
  for (auto& p : opts_.prefixes)
    if (p.empty()) throw Error("json constraint", "empty prefix alternative");
  in_prefix_ = !opts_.prefixes.empty();
  allow_.assign(static_cast<size_t>(vocab_->size()), 0);
  // Tokens needed for the rest of each prefix from every position: greedy longest match, an
  // upper bound that drops by one with each greedy token, so the budget rule stays satisfiable.
  for (auto& p : opts_.prefixes) {
    std::vector<int> cost(p.size() + 1, 0);
    for (size_t pos = p.size(); pos-- > 0;) {
      const size_t len = std::max<size_t>(1, longest_token_at(p, pos).second);
      cost[pos] = 1 + cost[std::min(p.size(), pos + len)];
    }
    prefix_cost_.push_back(std::move(cost));
  }
}

std::pair<int32_t, size_t> JsonConstraint::longest_token_at(const std::string& s,
                                                            size_t pos) const {
  constexpr size_t kMaxLen = 48;
  for (size_t len = std::min(kMaxLen, s.size() - std::min(pos, s.size())); len > 0; --len) {
    auto [b, e] = vocab_->exactly(s.substr(pos, len));
    if (b != e) return {*b, len};
  }
  return {-1, 0};
}

Cursor JsonConstraint::start() const {
  Cursor c = cur_;
  c.base = stack_.data();
  c.base_len = static_cast<int32_t>(stack_.size());
  c.n_pushed = 0;
  c.pushed = 0;
  return c;
}

// One byte of the document; false when the byte cannot come next.
bool JsonConstraint::step(Cursor& c, uint8_t b) const {
  auto after_value = [&] {
    if (depth(c) > 0) {
      c.mode = Mode::kAfterValue;
    } else if (opts_.suffix.empty()) {
      c.mode = Mode::kDone;
    } else {
      c.mode = Mode::kSuffix;
      c.suffix_pos = 0;
    }
    return true;
  };
  auto begin_value = [&]() -> bool {
    switch (b) {
      case '{':
        c.mode = Mode::kObjFirst;
        return push(c, 'o');
      case '[':
        c.mode = Mode::kArrFirst;
        return push(c, 'a');
      case '"':
        c.mode = Mode::kString;
        c.key = false;
        return true;
      case '-':
        c.mode = Mode::kNumMinus;
        return true;
      case '0':
        c.mode = Mode::kNumZero;
        return true;
      case 't':
      case 'f':
      case 'n':
        c.mode = Mode::kLiteral;
        c.lit = b == 't' ? 0 : b == 'f' ? 1 : 2;
        c.sub = 1;
        return true;
      default:
        if (b >= '1' && b <= '9') {
          c.mode = Mode::kNumInt;
          c.sub = 1;
          return true;
        }
        return false;
    }
  };
  auto structural = [&](Mode m) {
    return m == Mode::kTop || m == Mode::kObjFirst || m == Mode::kObjKey || m == Mode::kColon ||
           m == Mode::kValue || m == Mode::kArrFirst || m == Mode::kAfterValue;
  };
  // A number ends at the first byte that cannot continue it; that byte then follows the value.
  auto end_number = [&] {
    after_value();
    return c.mode == Mode::kAfterValue && step(c, b);
  };

  if (structural(c.mode)) {
    if (is_ws(b)) return ++c.ws <= kMaxWhitespaceRun;
    c.ws = 0;
  }
  switch (c.mode) {
    case Mode::kTop:
      if (b != '{') return false;
      c.mode = Mode::kObjFirst;
      return push(c, 'o');
    case Mode::kObjFirst:
      if (b == '}') {
        pop(c);
        return after_value();
      }
      [[fallthrough]];
    case Mode::kObjKey:
      if (b != '"') return false;
      c.mode = Mode::kString;
      c.key = true;
      return true;
    case Mode::kColon:
      if (b != ':') return false;
      c.mode = Mode::kValue;
      return true;
    case Mode::kValue:
      return begin_value();
    case Mode::kArrFirst:
      if (b == ']') {
        pop(c);
        return after_value();
      }
      return begin_value();
    case Mode::kAfterValue: {
      const char t = top(c);
      if (b == ',') {
        c.mode = t == 'o' ? Mode::kObjKey : Mode::kValue;
        return true;
      }
      if ((b == '}' && t == 'o') || (b == ']' && t == 'a')) {
        pop(c);
        return after_value();
      }
      return false;
    }
    case Mode::kString:
      if (c.utf8 != 0) {
        const int u = utf8_next(c.utf8, b);
        if (u < 0) return false;
        c.utf8 = static_cast<uint8_t>(u);
        return true;
      }
      if (c.surr != 0) {  // a high surrogate's escape: its low one must follow
        if (b != '\\') return false;
        c.mode = Mode::kEscape;
        return true;
      }
      if (b == '"') {
        if (c.key) {
          c.mode = Mode::kColon;
          return true;
        }
        return after_value();
      }
      if (b == '\\') {
        c.mode = Mode::kEscape;
        return true;
      }
      if (b < 0x20) return false;
      {
        const int u = utf8_next(0, b);
        if (u < 0) return false;
        c.utf8 = static_cast<uint8_t>(u);
      }
      return true;
    case Mode::kEscape:
      if (b == 'u') {
        c.mode = Mode::kUnicode;
        c.sub = 4;
        c.surr = c.surr != 0 ? surrogate::kNeedLow : 0;
        return true;
      }
      if (c.surr != 0) return false;
      if (std::strchr("\"\\/bfnrt", b) == nullptr || b == 0) return false;
      c.mode = Mode::kString;
      return true;
    case Mode::kUnicode:
      if (!is_hex(b) || !surrogate::digit(c.surr, 4 - c.sub, b)) return false;
      if (--c.sub == 0) {
        c.mode = Mode::kString;
        c.surr = surrogate::after_escape(c.surr);
      }
      return true;
    case Mode::kNumMinus:
      if (b == '0') {
        c.mode = Mode::kNumZero;
        return true;
      }
      if (b >= '1' && b <= '9') {
        c.mode = Mode::kNumInt;
        c.sub = 1;
        return true;
      }
      return false;
    case Mode::kNumZero:
    case Mode::kNumInt:
      // Digit counts are capped so every number fits a double (parsers reject overflow).
      if (c.mode == Mode::kNumInt && is_digit(b)) return ++c.sub <= kMaxIntDigits;
      if (b == '.') {
        c.mode = Mode::kNumDot;
        return true;
      }
      if (b == 'e' || b == 'E') {
        c.mode = Mode::kNumExp;
        return true;
      }
      return end_number();
    case Mode::kNumDot:
      if (!is_digit(b)) return false;
      c.mode = Mode::kNumFrac;
      return true;
    case Mode::kNumFrac:
      if (is_digit(b)) return true;
      if (b == 'e' || b == 'E') {
        c.mode = Mode::kNumExp;
        return true;
      }
      return end_number();
    case Mode::kNumExp:
      if (b == '+' || b == '-') {
        c.mode = Mode::kNumExpSign;
        return true;
      }
      [[fallthrough]];
    case Mode::kNumExpSign:
      if (!is_digit(b)) return false;
      c.mode = Mode::kNumExpDigits;
      c.sub = 1;
      return true;
    case Mode::kNumExpDigits:
      if (is_digit(b)) return ++c.sub <= kMaxExpDigits;
      return end_number();
    case Mode::kLiteral:
      if (b != static_cast<uint8_t>(kLiterals[c.lit][c.sub])) return false;
      if (++c.sub == kLiteralLen[c.lit]) return after_value();
      return true;
    case Mode::kSuffix:
      if (b != static_cast<uint8_t>(opts_.suffix[c.suffix_pos])) return false;
      if (++c.suffix_pos == opts_.suffix.size()) c.mode = Mode::kDone;
      return true;
    case Mode::kDone:
      return false;
  }
  return false;
}

bool JsonConstraint::run(Cursor& c, const std::string& bytes) const {
  for (unsigned char b : bytes)
    if (!step(c, b)) return false;
  return true;
}

// Bytes of the shortest completion: numbers and values complete with "0", keys with "":0.
int JsonConstraint::cost(const Cursor& c) const {
  const int d = depth(c);
  const int s = static_cast<int>(opts_.suffix.size());
  const int str = c.key ? 3 : 1;  // closing quote (and ":0" for a key)
  switch (c.mode) {
    case Mode::kTop:
      return 2 + s;
    case Mode::kObjFirst:
    case Mode::kArrFirst:
    case Mode::kAfterValue:
    case Mode::kNumZero:
    case Mode::kNumInt:
    case Mode::kNumFrac:
    case Mode::kNumExpDigits:
      return d + s;
    case Mode::kObjKey:
      return 4 + d + s;
    case Mode::kColon:
      return 2 + d + s;
    case Mode::kValue:
    case Mode::kNumMinus:
    case Mode::kNumDot:
    case Mode::kNumExp:
    case Mode::kNumExpSign:
      return 1 + d + s;
    case Mode::kString:
      return kUtf8Pending[c.utf8] + (c.surr != 0 ? 6 : 0) + str + d + s;
    case Mode::kEscape:
      return (c.surr != 0 ? 5 : 1) + str + d + s;
    case Mode::kUnicode:
      return c.sub + surrogate::owed(c.surr) + str + d + s;
    case Mode::kLiteral:
      return kLiteralLen[c.lit] - c.sub + d + s;
    case Mode::kSuffix:
      return s - static_cast<int>(c.suffix_pos);
    case Mode::kDone:
      return 0;
  }
  return 0;
}

int JsonConstraint::closing_cost() const {
  if (ended_) return 0;
  if (in_prefix_) {
    int best = std::numeric_limits<int>::max();
    for (size_t i = 0; i < opts_.prefixes.size(); ++i)
      if (opts_.prefixes[i].compare(0, matched_.size(), matched_) == 0)
        best = std::min(best, prefix_cost_[i][matched_.size()]);
    return best + 2 + static_cast<int>(opts_.suffix.size());
  }
  return cost(start());
}

std::string JsonConstraint::closing() const {
  if (ended_) return "";
  if (in_prefix_) {
    const std::string* best = nullptr;
    for (auto& p : opts_.prefixes)
      if (p.compare(0, matched_.size(), matched_) == 0 && (!best || p.size() < best->size()))
        best = &p;
    return (best ? best->substr(matched_.size()) : std::string()) + "{}" + opts_.suffix;
  }
  std::string out;
  const Cursor& c = cur_;
  switch (c.mode) {
    case Mode::kTop:
      return "{}" + opts_.suffix;
    case Mode::kObjKey:
      out = "\"\":0";
      break;
    case Mode::kColon:
      out = ":0";
      break;
    case Mode::kValue:
    case Mode::kNumMinus:
    case Mode::kNumDot:
    case Mode::kNumExp:
    case Mode::kNumExpSign:
      out = "0";
      break;
    case Mode::kString:
    case Mode::kEscape:
    case Mode::kUnicode:
      if (c.mode == Mode::kString) out.append(c.surr != 0 ? "\\uDC00" : kUtf8Closing[c.utf8]);
      if (c.mode == Mode::kEscape) out.append(c.surr != 0 ? "uDC00" : "n");
      if (c.mode == Mode::kUnicode) out.append(surrogate::closing(c.surr, c.sub));
      out.append(c.key ? std::string_view("\":0") : std::string_view("\""));
      break;
    case Mode::kLiteral:
      out = std::string(kLiterals[c.lit] + c.sub);
      break;
    case Mode::kSuffix:
      return opts_.suffix.substr(c.suffix_pos);
    case Mode::kDone:
      return "";
    default:
      break;
  }
  for (size_t i = stack_.size(); i-- > 0;) out += stack_[i] == 'o' ? '}' : ']';
  return out + opts_.suffix;
}

bool JsonConstraint::complete() const {
  return !in_prefix_ && !broken_ && cur_.mode == Mode::kDone;
}

void JsonConstraint::compute_allowed() {
  std::fill(allow_.begin(), allow_.end(), 0);
  const JsonVocab& v = *vocab_;
  auto allow_ends = [&] {
    for (int32_t id : v.end_ids()) allow_[static_cast<size_t>(id)] = 1;
  };
  if (broken_ || ended_ || complete()) {
    allow_ends();
    return;
  }
  // Cost allowed after this token: the rest must fit in the tokens left after it.
  const int limit = opts_.max_tokens - generated_ - 1;
  bool any = false;
  auto allow = [&](int32_t id) {
    allow_[static_cast<size_t>(id)] = 1;
    any = true;
  };

  if (in_prefix_) {
    for (size_t i = 0; i < opts_.prefixes.size(); ++i) {
      const std::string& p = opts_.prefixes[i];
      if (p.compare(0, matched_.size(), matched_) != 0) continue;
      const std::string rest = p.substr(matched_.size());
      for (size_t k = 1; k <= rest.size(); ++k) {
        const int after = prefix_cost_[i][matched_.size() + k] + 2 + int(opts_.suffix.size());
        if (after > limit) continue;
        auto [b, e] = v.exactly(rest.substr(0, k));
        for (auto it = b; it != e; ++it) allow(*it);
      }
    }
  } else {
    const Cursor base = start();
    auto try_token = [&](int32_t id) {
      Cursor c = base;
      if (run(c, v.bytes(id)) && cost(c) <= limit) allow(id);
    };
    if (base.mode == Mode::kString && base.surr == 0) {
      // Tokens without '"', '\\' or control bytes stay inside the string: whether they fit
      // depends only on the UTF-8 state, indexed at load.
      Cursor whole = base;
      whole.utf8 = 0;
      const int at_boundary = cost(whole);
      if (at_boundary <= limit) {
        std::memcpy(allow_.data(), v.complete_chars(base.utf8).data(), allow_.size());
        any = true;
      }
      for (auto [id, u] : v.partial_chars(base.utf8))
        if (at_boundary + kUtf8Pending[u] <= limit) allow(id);
      for (int32_t id : v.non_plain()) try_token(id);
    } else {
      for (int b1 = 0; b1 < 256; ++b1) {
        Cursor c1 = base;
        if (!step(c1, static_cast<uint8_t>(b1))) continue;
        if (cost(c1) <= limit) {
          auto [b, e] = v.starting_with(static_cast<uint8_t>(b1), JsonVocab::kAlone);
          for (auto it = b; it != e; ++it) allow(*it);
        }
        for (int b2 = 0; b2 < 256; ++b2) {
          auto [b, e] = v.starting_with(static_cast<uint8_t>(b1), static_cast<uint8_t>(b2));
          if (b == e) continue;
          Cursor c2 = c1;
          if (!step(c2, static_cast<uint8_t>(b2))) continue;
          for (auto it = b; it != e; ++it) {
            Cursor c = c2;
            const std::string& s = v.bytes(*it);
            bool ok = true;
            for (size_t k = 2; k < s.size() && ok; ++k) ok = step(c, static_cast<uint8_t>(s[k]));
            if (ok && cost(c) <= limit) allow(*it);
          }
        }
      }
    }
    if (base.mode == Mode::kDone) allow_ends();
  }
  if (!any) {
    // Over budget already (a budget smaller than the shortest document): close as fast as we can.
    const int32_t id = longest_token_at(closing(), 0).first;
    if (id >= 0)
      allow_[static_cast<size_t>(id)] = 1;
    else
      allow_ends();
  }
}

void JsonConstraint::apply(float* logits, int64_t vocab) {
  compute_allowed();
  const int64_t n = std::min<int64_t>(vocab, vocab_->size());
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i)
    if (!allow_[static_cast<size_t>(i)]) logits[i] = ninf;
  for (int64_t i = n; i < vocab; ++i) logits[i] = ninf;
}

std::vector<int32_t> JsonConstraint::allowed_tokens() {
  compute_allowed();
  std::vector<int32_t> out;
  for (size_t i = 0; i < allow_.size(); ++i)
    if (allow_[i]) out.push_back(static_cast<int32_t>(i));
  return out;
}

void JsonConstraint::accept(int32_t token) {
  ++generated_;
  if (ended_ || broken_) return;
  if (token < 0 || token >= vocab_->size()) {
    broken_ = true;
    return;
  }
  if (vocab_->is_end(token)) {
    ended_ = true;
    return;
  }
  const std::string& bytes = vocab_->bytes(token);
  if (bytes.empty()) {
    broken_ = true;
    return;
  }
  if (in_prefix_) {
    matched_ += bytes;
    bool alive = false;
    for (auto& p : opts_.prefixes) {
      if (p == matched_) {
        in_prefix_ = false;
        return;
      }
      alive = alive || p.compare(0, matched_.size(), matched_) == 0;
    }
    if (!alive) broken_ = true;
    return;
  }
  Cursor c = start();
  if (!run(c, bytes)) {
    broken_ = true;
    return;
  }
  stack_.resize(static_cast<size_t>(c.base_len));
  for (int i = 0; i < c.n_pushed; ++i) stack_ += (c.pushed >> i) & 1 ? 'a' : 'o';
  cur_ = c;
  cur_.n_pushed = 0;
  cur_.pushed = 0;
  cur_.base = nullptr;
}

}  // namespace hearth
