#include "runtime/schema_constraint.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>

#include "runtime/json_bytes.h"
#include "util/error.h"

namespace hearth {
namespace {

using namespace json_bytes;
using Frame = SchemaConstraint::Frame;
using Thread = SchemaConstraint::Thread;
using Kind = SchemaNode::Kind;

constexpr int kEof = 256;  // the end of the document, fed like a byte
// Whitespace between tokens is valid JSON but a runaway model could emit nothing else.
constexpr int kMaxWhitespaceRun = 16;
constexpr uint16_t kMaxIntDigits = 16;
constexpr uint16_t kMaxFracDigits = 16;
constexpr uint16_t kMaxExpDigits = 2;
// Alternatives of anyOf that no byte has told apart yet; past this the costliest are dropped
// (every one kept still leads to a valid document).
constexpr size_t kMaxThreads = 32;

enum Mode : uint8_t {
  kRootStart,
  kRootPrefix,  // a prefix literal is being written
  kRootValue,
  kRootAfter,   // the value is written: the suffix, or the end
  kRootSuffix,  // the suffix literal is being written
  kRootDone,
  kObjOpen,   // after '{'
  kObjKey,    // a key literal is being written
  kMapKey,    // a free key string is being written
  kObjColon,  // before ':'
  kObjValue,  // before the value
  kObjAfter,  // after a value
  kObjComma,  // after ','
  kArrOpen,
  kArrAfter,
  kArrComma,
  kStr,
  kStrEsc,
  kStrHex,
  kNumMinus,
  kNumZero,
  kNumInt,
  kNumDot,
  kNumFrac,
  kNumExp,
  kNumExpSign,
  kNumExpDigits,
  kLit,
};

bool structural(uint8_t m) {
  return m >= kObjOpen && m <= kArrComma && m != kObjKey && m != kMapKey;
}

int32_t depth(const Thread& t) {
  return t.base_len + t.n_local;
}
const Frame& top(const Thread& t) {
  return t.n_local > 0 ? t.local[t.n_local - 1] : t.base[t.base_len - 1];
}
const Frame& at(const Thread& t, int32_t i) {
  return i < t.base_len ? t.base[i] : t.local[i - t.base_len];
}
Frame& mut_top(Thread& t) {
  if (t.n_local == 0) {
    t.local[0] = t.base[t.base_len - 1];
    --t.base_len;
    t.n_local = 1;
  }
  return t.local[t.n_local - 1];
}
void pop(Thread& t) {
  if (t.n_local > 0)
    --t.n_local;
  else
    --t.base_len;
}
bool push(Thread& t, const Frame& f) {
  if (t.n_local >= SchemaConstraint::kLocal) return false;
  t.local[t.n_local++] = f;
  return true;
}

Frame frame(int32_t node, uint8_t mode) {
  Frame f;
  f.node = node;
  f.mode = mode;
  return f;
}

int64_t add(int64_t a, int64_t b) {
  return std::min(kSchemaInf, a + b);
}

// After a child value (or key, prefix, suffix) is complete: pop it and move its parent on.
void child_done(Thread& t, int32_t value) {
  pop(t);
  Frame& p = mut_top(t);
  switch (p.mode) {
    case kObjKey:
      p.b = static_cast<uint32_t>(value);
      p.a = static_cast<uint32_t>(value) + 1;
      p.mode = kObjColon;
      break;
    case kMapKey:
      p.mode = kObjColon;
      break;
    case kRootPrefix:
      p.b = static_cast<uint32_t>(value);
      p.mode = kRootValue;
      break;
    case kRootSuffix:
      p.mode = kRootDone;
      break;
    default:
      break;  // containers are already in their after-value mode
  }
}

// Bytes an object still needs from position pos: the required properties left and '}'.
int64_t need(const SchemaNode& n, size_t pos, bool first) {
  return add(n.req_sum[pos] - (first && n.req_count[pos] > 0 ? 1 : 0), 1);
}

}  // namespace

SchemaConstraint::SchemaConstraint(std::shared_ptr<const JsonVocab> vocab,
                                   std::shared_ptr<const SchemaGraph> graph, SchemaDocument doc,
                                   int max_tokens)
    : vocab_(std::move(vocab)),
      graph_(std::move(graph)),
      doc_(std::move(doc)),
      max_tokens_(max_tokens) {
  if (doc_.alternatives.empty()) throw Error("schema constraint", "no document alternatives");
  const bool prefixed = !doc_.alternatives[0].prefix.empty();
  LiteralSet prefixes;
  for (size_t i = 0; i < doc_.alternatives.size(); ++i) {
    const auto& alt = doc_.alternatives[i];
    if (alt.prefix.empty() == prefixed || (!prefixed && doc_.alternatives.size() > 1))
      throw Error("schema constraint", "alternatives need distinct non-empty prefixes");
    if (alt.node < 0 || alt.node >= graph_->size())
      throw Error("schema constraint", "alternative node out of range");
    prefixes.text.push_back(alt.prefix);
    prefixes.value.push_back(static_cast<int32_t>(i));
    prefixes.tail.push_back(
        add(graph_->min_bytes(alt.node), static_cast<int64_t>(doc_.suffix.size())));
  }
  // Sorted like the graph's sets, so a literal frame can narrow by binary search.
  SchemaGraph scratch;
  const int32_t p = scratch.add_literals(std::move(prefixes));
  own_sets_.push_back(scratch.literals(p));
  own_sets_.push_back(LiteralSet{{doc_.suffix}, {0}, {0}, {}});
  stacks_.push_back({frame(-1, kRootStart)});
  ws_.push_back(0);
  allow_.assign(static_cast<size_t>(vocab_->size()), 0);
}

const LiteralSet& SchemaConstraint::set(int32_t id) const {
  return id < 0 ? own_sets_[static_cast<size_t>(~id)] : graph_->literals(id);
}

Thread SchemaConstraint::thread(size_t i) const {
  Thread t;
  t.base = stacks_[i].data();
  t.base_len = static_cast<int32_t>(stacks_[i].size());
  t.ws = ws_[i];
  return t;
}

template <class Emit>
void SchemaConstraint::start_value(Thread& t, int32_t node, int b, Emit&& emit) const {
  const SchemaGraph& g = *graph_;
  node = g.resolve(node);
  const SchemaNode& n = g.node(node);
  if (b >= 256 || n.min_bytes >= kSchemaInf) return;
  switch (n.kind) {
    case Kind::kAny:
    case Kind::kAnyOf:
      for (int32_t alt : n.alts) {
        Thread c = t;
        start_value(c, alt, b, emit);
      }
      return;
    case Kind::kObject:
      if (b == '{' && push(t, frame(node, kObjOpen))) emit(t);
      return;
    case Kind::kArray:
      if (b == '[' && push(t, frame(node, kArrOpen))) emit(t);
      return;
    case Kind::kString:
      if (b == '"' && push(t, frame(node, kStr))) emit(t);
      return;
    case Kind::kNumber:
    case Kind::kInteger: {
      Frame f = frame(node, kNumInt);
      if (b == '-')
        f.mode = kNumMinus;
      else if (b == '0')
        f.mode = kNumZero;
      else if (b >= '1' && b <= '9')
        f.m = 1;
      else
        return;
      if (push(t, f)) emit(t);
      return;
    }
    case Kind::kLiterals: {
      Frame f = frame(node, kLit);
      f.set = n.literals;
      f.b = static_cast<uint32_t>(g.literals(n.literals).text.size());
      if (push(t, f)) step(t, b, emit);
      return;
    }
    case Kind::kRef:
      return;  // resolved above
  }
}

// One byte (or kEof) of the document from thread t; emit gets each thread that accepts it
// (several when the byte starts an anyOf that the byte does not decide).
template <class Emit>
void SchemaConstraint::step(Thread t, int b, Emit&& emit) const {
  const SchemaGraph& g = *graph_;
  for (;;) {
    Frame& f = mut_top(t);
    if (structural(f.mode)) {
      if (b < 256 && is_ws(static_cast<uint8_t>(b))) {
        if (++t.ws <= kMaxWhitespaceRun) emit(t);
        return;
      }
      t.ws = 0;
    }
    const SchemaNode* n = f.node >= 0 ? &g.node(f.node) : nullptr;
    switch (f.mode) {
      case kRootStart:
        if (!doc_.alternatives[0].prefix.empty()) {
          f.mode = kRootPrefix;
          Frame lit = frame(-1, kLit);
          lit.set = ~0;
          lit.b = static_cast<uint32_t>(own_sets_[0].text.size());
          if (!push(t, lit)) return;
          continue;
        }
        f.b = 0;
        f.mode = kRootValue;
        continue;
      case kRootValue: {
        f.mode = kRootAfter;
        const int32_t node = doc_.alternatives[f.b].node;
        start_value(t, node, b, emit);
        return;
      }
      case kRootAfter:
        if (doc_.suffix.empty()) {
          if (b == kEof) emit(t);
          return;
        }
        f.mode = kRootSuffix;
        {
          Frame lit = frame(-1, kLit);
          lit.set = ~1;
          lit.b = 1;
          if (!push(t, lit)) return;
        }
        continue;
      case kRootDone:
        if (b == kEof) emit(t);
        return;
      case kObjOpen:
      case kObjComma:
        if (b == '}' && f.mode == kObjOpen && (n->is_map() || n->req_count[0] == 0)) {
          child_done(t, -1);
          emit(t);
          return;
        }
        if (b != '"') return;
        if (n->is_map()) {
          f.mode = kMapKey;
          if (push(t, frame(-1, kStr))) emit(t);
          return;
        }
        if (n->key_set[f.a] < 0) return;
        {
          Frame lit = frame(-1, kLit);
          lit.set = n->key_set[f.a];
          lit.b = static_cast<uint32_t>(g.literals(lit.set).text.size());
          f.mode = kObjKey;
          if (!push(t, lit)) return;
        }
        continue;
      case kObjColon:
        if (b != ':') return;
        f.mode = kObjValue;
        emit(t);
        return;
      case kObjValue: {
        f.mode = kObjAfter;
        const int32_t child = n->is_map() ? n->extra : n->props[f.b].node;
        start_value(t, child, b, emit);
        return;
      }
      case kObjAfter:
        if (b == ',') {
          if (n->is_map() || (f.a < n->props.size() && n->key_set[f.a] >= 0)) {
            f.mode = kObjComma;
            emit(t);
          }
          return;
        }
        if (b == '}' && (n->is_map() || n->req_count[f.a] == 0)) {
          child_done(t, -1);
          emit(t);
        }
        return;
      case kArrOpen:
        if (b == ']') {
          if (n->min_items == 0) {
            child_done(t, -1);
            emit(t);
          }
          return;
        }
        if (n->max_items == 0) return;
        f.mode = kArrAfter;
        f.a = 1;
        start_value(t, n->items, b, emit);
        return;
      case kArrAfter:
        if (b == ',' && f.a < n->max_items) {
          f.mode = kArrComma;
          emit(t);
        } else if (b == ']' && f.a >= n->min_items) {
          child_done(t, -1);
          emit(t);
        }
        return;
      case kArrComma:
        f.mode = kArrAfter;
        ++f.a;
        start_value(t, n->items, b, emit);
        return;
      case kStr: {
        if (b == kEof) return;
        const auto c = static_cast<uint8_t>(b);
        const bool bounded = n && n->bounded_string();
        if (f.utf8 != 0) {
          const int u = utf8_next(f.utf8, c);
          if (u < 0) return;
          f.utf8 = static_cast<uint8_t>(u);
          emit(t);
          return;
        }
        if (f.surr != 0) {  // a high surrogate's escape: its low one must follow
          if (c == '\\') {
            f.mode = kStrEsc;
            emit(t);
          }
          return;
        }
        if (c == '"') {
          if (bounded && f.a < n->min_len) return;
          child_done(t, -1);
          emit(t);
          return;
        }
        if (c < 0x20) return;
        const int u = c == '\\' ? 0 : utf8_next(0, c);
        if (u < 0) return;
        if (bounded) {
          if (f.a + uint64_t{1} > n->max_len) return;
          ++f.a;
        }
        if (c == '\\')
          f.mode = kStrEsc;
        else
          f.utf8 = static_cast<uint8_t>(u);
        emit(t);
        return;
      }
      case kStrEsc:
        if (b == 'u') {
          if (n && n->bounded_string()) return;
          f.mode = kStrHex;
          f.m = 4;
          f.surr = f.surr != 0 ? surrogate::kNeedLow : 0;
          emit(t);
        } else if (f.surr == 0 && b > 0 && b < 256 && std::strchr("\"\\/bfnrt", b) != nullptr) {
          f.mode = kStr;
          emit(t);
        }
        return;
      case kStrHex:
        if (b >= 256 || !is_hex(static_cast<uint8_t>(b))) return;
        if (!surrogate::digit(f.surr, 4 - f.m, static_cast<uint8_t>(b))) return;
        if (--f.m == 0) {
          f.mode = kStr;
          f.surr = surrogate::after_escape(f.surr);
        }
        emit(t);
        return;
      case kNumMinus:
        if (b == '0') {
          f.mode = kNumZero;
        } else if (b >= '1' && b <= '9') {
          f.mode = kNumInt;
          f.m = 1;
        } else {
          return;
        }
        emit(t);
        return;
      case kNumZero:
      case kNumInt:
      case kNumFrac:
      case kNumExpDigits: {
        const bool digit = b < 256 && is_digit(static_cast<uint8_t>(b));
        const bool integer = n->kind == Kind::kInteger;
        if (digit && f.mode != kNumZero) {
          const uint16_t cap = f.mode == kNumInt    ? kMaxIntDigits
                               : f.mode == kNumFrac ? kMaxFracDigits
                                                    : kMaxExpDigits;
          if (++f.m <= cap) emit(t);
          return;
        }
        if (!integer && b == '.' && (f.mode == kNumZero || f.mode == kNumInt)) {
          f.mode = kNumDot;
          emit(t);
          return;
        }
        if (!integer && (b == 'e' || b == 'E') && f.mode != kNumExpDigits) {
          f.mode = kNumExp;
          emit(t);
          return;
        }
        child_done(t, -1);  // the number ends; the byte belongs to what follows it
        continue;
      }
      case kNumDot:
        if (b >= 256 || !is_digit(static_cast<uint8_t>(b))) return;
        f.mode = kNumFrac;
        f.m = 1;
        emit(t);
        return;
      case kNumExp:
        if (b == '+' || b == '-') {
          f.mode = kNumExpSign;
          emit(t);
          return;
        }
        [[fallthrough]];
      case kNumExpSign:
        if (b >= 256 || !is_digit(static_cast<uint8_t>(b))) return;
        f.mode = kNumExpDigits;
        f.m = 1;
        emit(t);
        return;
      case kLit: {
        const LiteralSet& s = set(f.set);
        const size_t m = f.m;
        if (b < 256) {
          // The alternatives in [a, b) share m bytes; those that continue with b form a range.
          const auto key = [&](uint32_t i) {
            return s.text[i].size() > m ? static_cast<int>(static_cast<uint8_t>(s.text[i][m])) : -1;
          };
          uint32_t lo = f.a, hi = f.b;
          while (lo < hi) {  // first with key >= b
            const uint32_t mid = (lo + hi) / 2;
            if (key(mid) < b)
              lo = mid + 1;
            else
              hi = mid;
          }
          uint32_t end = lo;
          hi = f.b;
          while (end < hi) {  // first with key > b
            const uint32_t mid = (end + hi) / 2;
            if (key(mid) <= b)
              end = mid + 1;
            else
              hi = mid;
          }
          if (lo < end) {
            f.a = lo;
            f.b = end;
            ++f.m;
            if (end - lo == 1 && s.text[lo].size() == f.m) child_done(t, s.value[lo]);
            emit(t);
            return;
          }
        }
        // Nothing continues with b: if an alternative is complete (a number that is a prefix of
        // another), the value ends and b belongs to what follows.
        if (s.text[f.a].size() == m) {
          child_done(t, s.value[f.a]);
          continue;
        }
        return;
      }
      default:
        return;  // a parent waiting on its child never sees bytes
    }
  }
}

int64_t SchemaConstraint::frame_cost(const Frame& f) const {
  const SchemaGraph& g = *graph_;
  const SchemaNode* n = f.node >= 0 ? &g.node(f.node) : nullptr;
  const auto suffix = static_cast<int64_t>(doc_.suffix.size());
  auto value_of = [&](uint32_t prop) { return n->is_map() ? n->extra : n->props[prop].node; };
  switch (f.mode) {
    case kRootStart:
      if (doc_.alternatives[0].prefix.empty())
        return add(g.min_bytes(doc_.alternatives[0].node), suffix);
      {
        int64_t best = kSchemaInf;
        const LiteralSet& s = own_sets_[0];
        for (size_t i = 0; i < s.text.size(); ++i)
          best = std::min(best, add(static_cast<int64_t>(s.text[i].size()), s.tail[i]));
        return best;
      }
    case kRootValue:
      return add(g.min_bytes(doc_.alternatives[f.b].node), suffix);
    case kRootAfter:
      return suffix;
    case kRootPrefix:
    case kRootSuffix:
    case kRootDone:
    case kObjKey:
      return 0;
    case kObjOpen:
      return n->is_map() ? 1 : need(*n, 0, true);
    case kMapKey:
      return add(2, g.min_bytes(n->extra));
    case kObjColon:
      if (n->is_map()) return add(2, g.min_bytes(n->extra));
      return add(1 + g.min_bytes(value_of(f.b)), need(*n, f.b + 1, false));
    case kObjValue:
      if (n->is_map()) return add(1, g.min_bytes(n->extra));
      return add(g.min_bytes(value_of(f.b)), need(*n, f.b + 1, false));
    case kObjAfter:
      return n->is_map() ? 1 : need(*n, f.a, false);
    case kObjComma:
      if (n->is_map()) return add(4, g.min_bytes(n->extra));
      return f.a < n->props.size() ? n->key_cost[f.a] : kSchemaInf;
    case kArrOpen: {
      if (n->min_items == 0) return 1;
      const int64_t item = add(g.min_bytes(n->items), 1);
      if (n->min_items >= static_cast<uint64_t>(kSchemaInf) ||
          (item > 0 && static_cast<int64_t>(n->min_items) > kSchemaInf / item))
        return kSchemaInf;
      return add(static_cast<int64_t>(n->min_items) * item, 0);
    }
    case kArrAfter:
    case kArrComma: {
      const int64_t item = add(g.min_bytes(n->items), 1);
      const uint64_t begun = f.a + (f.mode == kArrComma ? 1u : 0u);
      const uint64_t left = n->min_items > begun ? n->min_items - begun : 0;
      int64_t rest = left >= static_cast<uint64_t>(kSchemaInf) /
                                 static_cast<uint64_t>(std::max<int64_t>(item, 1))
                         ? kSchemaInf
                         : add(static_cast<int64_t>(left) * item, 1);
      if (f.mode == kArrComma) rest = add(rest, g.min_bytes(n->items));
      return rest;
    }
    case kStr:
    case kStrEsc:
    case kStrHex: {
      const uint64_t lo = n ? n->min_len : 0;
      const int64_t chars_left = lo > f.a ? static_cast<int64_t>(std::min<uint64_t>(
                                                lo - f.a, static_cast<uint64_t>(kSchemaInf)))
                                          : 0;
      const int64_t open = f.mode == kStrEsc   ? (f.surr != 0 ? 5 : 1)
                           : f.mode == kStrHex ? f.m + surrogate::owed(f.surr)
                                               : kUtf8Pending[f.utf8] + (f.surr != 0 ? 6 : 0);
      return add(add(open, chars_left), 1);
    }
    case kNumMinus:
    case kNumDot:
    case kNumExp:
    case kNumExpSign:
      return 1;
    case kNumZero:
    case kNumInt:
    case kNumFrac:
    case kNumExpDigits:
      return 0;
    case kLit: {
      const LiteralSet& s = set(f.set);
      int64_t best = kSchemaInf;
      for (uint32_t i = f.a; i < f.b; ++i)
        best = std::min(best, add(static_cast<int64_t>(s.text[i].size()) - f.m, s.tail[i]));
      return best;
    }
    default:
      return kSchemaInf;
  }
}

int64_t SchemaConstraint::cost(const Thread& t) const {
  int64_t c = 0;
  for (int32_t i = 0; i < depth(t); ++i) c = add(c, frame_cost(at(t, i)));
  return c;
}

bool SchemaConstraint::can_end(const Thread& t) const {
  bool ok = false;
  step(t, kEof, [&](Thread&) { ok = true; });
  return ok;
}

void SchemaConstraint::walk(const TokenTrie& trie, uint32_t node, const Thread& t, int64_t limit) {
  for (uint32_t c = node + 1; c < trie.end[node]; c = trie.end[c]) {
    step(t, trie.byte[c], [&](Thread& next) {
      if (trie.token[c] >= 0) {
        const int64_t k = cost(next);
        best_ = std::min(best_, k);
        if (k <= limit)
          for (int32_t tok = trie.token[c]; tok >= 0; tok = trie.same[static_cast<size_t>(tok)])
            allow_[static_cast<size_t>(tok)] = 1;
      }
      if (trie.end[c] > c + 1) walk(trie, c, next, limit);
    });
  }
}

// Inside a string at a character boundary a plain token (no quote, backslash or control byte)
// stays in the string: whether it fits depends only on the characters it begins and the UTF-8
// state it leaves, so one table over those decides all of them.
void SchemaConstraint::string_fast_path(const Thread& t, int64_t limit) {
  const Frame& f = top(t);
  const SchemaNode* n = f.node >= 0 ? &graph_->node(f.node) : nullptr;
  const bool bounded = n && n->bounded_string();
  const int64_t below = cost(t) - frame_cost(f);
  constexpr size_t kCodes = JsonVocab::kNotPlain + 1;
  int64_t table[kCodes];
  for (size_t code = 0; code < JsonVocab::kNotPlain; ++code) {
    const uint64_t chars = code / 8;
    const uint8_t u = static_cast<uint8_t>(code % 8);
    if (bounded && f.a + chars > n->max_len) {
      table[code] = kSchemaInf;
      continue;
    }
    const uint64_t have = f.a + chars;
    const uint64_t lo = bounded ? n->min_len : 0;
    const int64_t left =
        lo > have
            ? static_cast<int64_t>(std::min<uint64_t>(lo - have, static_cast<uint64_t>(kSchemaInf)))
            : 0;
    table[code] = add(add(add(kUtf8Pending[u], left), 1), below);
  }
  table[JsonVocab::kNotPlain] = kSchemaInf;
  const std::vector<uint16_t>& codes = vocab_->plain_code();
  int64_t best = best_;
  uint8_t* allow = allow_.data();
  for (size_t id = 0; id < codes.size(); ++id) {
    const int64_t k = table[codes[id]];
    allow[id] |= static_cast<uint8_t>(k <= limit);
    best = std::min(best, k);
  }
  best_ = best;
  walk(vocab_->non_plain_tokens(), 0, t, limit);
}

void SchemaConstraint::compute_allowed(int64_t limit) {
  std::fill(allow_.begin(), allow_.end(), 0);
  best_ = kSchemaInf;
  bool end = false;
  if (!broken_ && !ended_) {
    for (size_t i = 0; i < stacks_.size(); ++i) {
      const Thread t = thread(i);
      const Frame& f = top(t);
      if (f.mode == kStr && f.utf8 == 0 && f.surr == 0)
        string_fast_path(t, limit);
      else
        walk(vocab_->all_tokens(), 0, t, limit);
      end = end || can_end(t);
    }
  }
  if (doc_.optional && generated_ == 0) {
    // Free text may begin with anything that cannot begin the document.
    const JsonVocab& v = *vocab_;
    for (int32_t id = 0; id < v.size(); ++id) {
      const std::string& b = v.bytes(id);
      bool starts_doc = false;
      for (auto& alt : doc_.alternatives)
        starts_doc = starts_doc || (!b.empty() && !alt.prefix.empty() && b[0] == alt.prefix[0]);
      if (!b.empty() && !starts_doc) allow_[static_cast<size_t>(id)] = 1;
    }
    end = true;
  }
  const bool any = std::find(allow_.begin(), allow_.end(), 1) != allow_.end();
  if (!any && !end && best_ < kSchemaInf && best_ > limit) {
    // Over budget already (max_tokens below the shortest document): head for the end by the
    // cheapest tokens; finish_reason will say "length".
    compute_allowed(best_);
    return;
  }
  if (end || broken_ || ended_ || !any)
    for (int32_t id : vocab_->end_ids()) allow_[static_cast<size_t>(id)] = 1;
}

void SchemaConstraint::apply(float* logits, int64_t vocab) {
  if (free_) return;
  compute_allowed(static_cast<int64_t>(max_tokens_) - generated_ - 1);
  const int64_t n = std::min<int64_t>(vocab, vocab_->size());
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i)
    if (!allow_[static_cast<size_t>(i)]) logits[i] = ninf;
  for (int64_t i = n; i < vocab; ++i) logits[i] = ninf;
}

std::vector<int32_t> SchemaConstraint::allowed_tokens() {
  compute_allowed(static_cast<int64_t>(max_tokens_) - generated_ - 1);
  std::vector<int32_t> out;
  if (free_) std::fill(allow_.begin(), allow_.end(), 1);
  for (size_t i = 0; i < allow_.size(); ++i)
    if (allow_[i]) out.push_back(static_cast<int32_t>(i));
  return out;
}

void SchemaConstraint::accept(int32_t token) {
  ++generated_;
  if (ended_ || broken_ || free_) return;
  if (token < 0 || token >= vocab_->size()) {
    broken_ = true;
    return;
  }
  if (vocab_->is_end(token)) {
    ended_ = true;
    broken_ = !complete();
    return;
  }
  const std::string& bytes = vocab_->bytes(token);
  if (bytes.empty()) {
    broken_ = true;
    return;
  }
  struct Next {
    int64_t cost;
    uint8_t ws;
    std::vector<Frame> stack;
  };
  std::vector<Next> next;
  std::function<void(const Thread&, size_t)> feed = [&](const Thread& t, size_t k) {
    if (k == bytes.size()) {
      std::vector<Frame> s;
      for (int32_t i = 0; i < depth(t); ++i) s.push_back(at(t, i));
      for (auto& other : next)
        if (other.stack == s && other.ws == t.ws) return;
      next.push_back({cost(t), t.ws, std::move(s)});
      return;
    }
    step(t, static_cast<uint8_t>(bytes[k]), [&](Thread& n) { feed(n, k + 1); });
  };
  for (size_t i = 0; i < stacks_.size(); ++i) feed(thread(i), 0);
  if (next.empty() && doc_.optional && generated_ == 1) {
    free_ = true;
    return;
  }
  if (next.empty()) {
    broken_ = true;
    return;
  }
  std::stable_sort(next.begin(), next.end(),
                   [](const Next& x, const Next& y) { return x.cost < y.cost; });
  if (next.size() > kMaxThreads) next.resize(kMaxThreads);
  stacks_.clear();
  ws_.clear();
  for (auto& n : next) {
    stacks_.push_back(std::move(n.stack));
    ws_.push_back(n.ws);
  }
}

bool SchemaConstraint::complete() const {
  if (broken_ || free_) return false;
  for (size_t i = 0; i < stacks_.size(); ++i)
    if (can_end(thread(i))) return true;
  return false;
}

int64_t SchemaConstraint::closing_cost() const {
  int64_t best = kSchemaInf;
  for (size_t i = 0; i < stacks_.size(); ++i) best = std::min(best, cost(thread(i)));
  return best;
}

}  // namespace hearth
