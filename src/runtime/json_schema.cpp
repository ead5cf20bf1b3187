#include "runtime/json_schema.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

namespace hearth {

using json = nlohmann::ordered_json;
using Kind = SchemaNode::Kind;

namespace {

int64_t sat_add(int64_t a, int64_t b) {
  return std::min(kSchemaInf, a + b);
}
int64_t sat_mul(uint64_t n, int64_t x) {
  if (n == 0) return 0;
  if (x >= kSchemaInf || n >= static_cast<uint64_t>(kSchemaInf)) return kSchemaInf;
  if (x > 0 && static_cast<int64_t>(n) > kSchemaInf / x) return kSchemaInf;
  return std::min(kSchemaInf, static_cast<int64_t>(n) * x);
}

// Keywords that describe but do not constrain: accepted and ignored.
const std::set<std::string>& annotations() {
  static const std::set<std::string> k = {"title",    "description", "$schema",  "$id",
                                          "$comment", "default",     "examples", "deprecated",
                                          "readOnly", "writeOnly",   "$defs",    "definitions"};
  return k;
}
const std::set<std::string>& supported() {
  static const std::set<std::string> k = {
      "type",      "properties", "required",   "additionalProperties",
      "items",     "minItems",   "maxItems",   "minLength",
      "maxLength", "enum",       "const",      "anyOf",
      "allOf",     "$ref",       "uniqueItems"};
  return k;
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

// Compiles one schema document. Subschemas are memoized by their JSON pointer so a recursive
// $ref becomes a cycle in the graph rather than an endless expansion.
class SchemaCompiler {
 public:
  SchemaCompiler(SchemaGraph& g, const json& root) : g_(g), root_(root) {}

  int32_t compile(const json& s, const std::string& ptr) {
    if (auto it = memo_.find(ptr); it != memo_.end()) return it->second;
    if (s.is_boolean()) {
      if (s.get<bool>()) return memo_[ptr] = any();
      throw SchemaError("false", "the schema at '" + where(ptr) +
                                     "' is false (no value is allowed); not supported");
    }
    if (!s.is_object())
      throw SchemaError("schema", "the schema at '" + where(ptr) + "' is not an object");
    std::vector<std::string> constraining;
    for (auto& [k, v] : s.items()) {
      if (annotations().count(k)) continue;
      if (!supported().count(k))
        throw SchemaError(k, "unsupported JSON Schema keyword '" + k + "' at '" + where(ptr) + "'");
      constraining.push_back(k);
    }
    if (auto u = s.find("uniqueItems"); u != s.end() && !(u->is_boolean() && !u->get<bool>()))
      throw SchemaError("uniqueItems", "'uniqueItems' is not supported (at '" + where(ptr) + "')");

    auto only = [&](const char* kw) {
      for (auto& k : constraining)
        if (k != kw && k != "uniqueItems")
          throw SchemaError(kw, "'" + std::string(kw) + "' beside '" + k +
                                    "' is not supported (at '" + where(ptr) + "')");
    };
    if (s.contains("$ref")) {
      only("$ref");
      const json& ref = s["$ref"];
      if (!ref.is_string()) throw SchemaError("$ref", "'$ref' must be a string");
      const int32_t id = reserve(ptr, Kind::kRef);
      const std::string target = ref.get<std::string>();
      if (target.empty() || target[0] != '#')
        throw SchemaError("$ref", "'$ref' must be local ('#...'), not '" + target + "'");
      const int32_t to = compile(resolve_pointer(target), target.substr(1));
      g_.nodes_[id].alts = {to};
      return id;
    }
    if (s.contains("allOf")) {
      only("allOf");
      const json& all = s["allOf"];
      if (!all.is_array() || all.size() != 1)
        throw SchemaError(
            "allOf", "'allOf' is supported only with exactly one member (at '" + where(ptr) + "')");
      const int32_t id = reserve(ptr, Kind::kRef);
      const int32_t to = compile(all[0], ptr + "/allOf/0");
      g_.nodes_[id].alts = {to};
      return id;
    }
    if (s.contains("anyOf")) {
      only("anyOf");
      const json& any_of = s["anyOf"];
      if (!any_of.is_array() || any_of.empty())
        throw SchemaError("anyOf", "'anyOf' must be a non-empty array (at '" + where(ptr) + "')");
      const int32_t id = reserve(ptr, Kind::kAnyOf);
      std::vector<int32_t> alts;
      for (size_t i = 0; i < any_of.size(); ++i)
        alts.push_back(compile(any_of[i], ptr + "/anyOf/" + std::to_string(i)));
      g_.nodes_[id].alts = std::move(alts);
      return id;
    }
    if (s.contains("enum") || s.contains("const")) {
      std::vector<json> values;
      if (s.contains("const")) values.push_back(s["const"]);
      if (s.contains("enum")) {
        if (!s["enum"].is_array() || s["enum"].empty())
          throw SchemaError("enum", "'enum' must be a non-empty array (at '" + where(ptr) + "')");
        std::vector<json> kept;
        for (auto& v : s["enum"])
          if (!s.contains("const") || v == s["const"]) kept.push_back(v);
        values = kept;
      }
      const int32_t id = reserve(ptr, Kind::kLiterals);
      json rest = s;
      rest.erase("enum");
      rest.erase("const");
      const int32_t check = compile(rest, ptr + "/~values");
      LiteralSet set;
      std::set<std::string> seen;
      for (auto& v : values) {
        if (!g_.validate(check, v)) continue;
        std::string text = v.dump();
        if (!seen.insert(text).second) continue;
        set.text.push_back(std::move(text));
        set.value.push_back(-1);
        set.tail.push_back(0);
        set.json.push_back(v);
      }
      const char* kw = s.contains("enum") ? "enum" : "const";
      if (set.text.empty())
        throw SchemaError(kw, "no value of '" + std::string(kw) +
                                  "' satisfies the rest of the schema at '" + where(ptr) + "'");
      g_.nodes_[id].literals = g_.add_literals(std::move(set));
      return id;
    }

    std::vector<std::string> types;
    if (auto t = s.find("type"); t != s.end()) {
      if (t->is_string()) {
        types.push_back(t->get<std::string>());
      } else if (t->is_array() && !t->empty()) {
        for (auto& e : *t) {
          if (!e.is_string()) throw SchemaError("type", "'type' entries must be strings");
          types.push_back(e.get<std::string>());
        }
      } else {
        throw SchemaError("type", "'type' must be a string or a non-empty array of strings");
      }
    } else {
      // No type: keywords of one family imply it (a subset of what the schema allows).
      if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties"))
        types.push_back("object");
      if (s.contains("items") || s.contains("minItems") || s.contains("maxItems"))
        types.push_back("array");
      if (s.contains("minLength") || s.contains("maxLength")) types.push_back("string");
      if (types.empty()) return memo_[ptr] = any();
    }
    static const std::set<std::string> known = {"object",  "array",   "string", "number",
                                                "integer", "boolean", "null"};
    for (auto& t : types)
      if (!known.count(t))
        throw SchemaError("type", "unknown type '" + t + "' at '" + where(ptr) + "'");
    if (std::count(types.begin(), types.end(), "number"))
      types.erase(std::remove(types.begin(), types.end(), "integer"), types.end());
    std::sort(types.begin(), types.end());
    types.erase(std::unique(types.begin(), types.end()), types.end());

    const int32_t id = reserve(ptr, types.size() == 1 ? Kind::kAny : Kind::kAnyOf);
    std::vector<int32_t> alts;
    for (auto& t : types) {
      const int32_t n = types.size() == 1 ? id : new_node(Kind::kAny);
      fill_type(n, t, s, ptr);
      alts.push_back(n);
    }
    if (types.size() > 1) g_.nodes_[id].alts = std::move(alts);
    return id;
  }

 private:
  SchemaGraph& g_;
  const json& root_;
  std::map<std::string, int32_t> memo_;

  static std::string where(const std::string& ptr) { return "#" + ptr; }

  int32_t new_node(Kind k) {
    g_.nodes_.emplace_back();
    g_.nodes_.back().kind = k;
    return static_cast<int32_t>(g_.nodes_.size() - 1);
  }
  int32_t reserve(const std::string& ptr, Kind k) { return memo_[ptr] = new_node(k); }

  // One "any value" node per graph: object (map of any), array of any, string, number, literals.
  int32_t any() {
    for (int32_t i = 0; i < g_.size(); ++i)
      if (g_.nodes_[i].kind == Kind::kAny && !g_.nodes_[i].alts.empty()) return i;
    const int32_t id = new_node(Kind::kAny);
    const int32_t obj = new_node(Kind::kObject);
    g_.nodes_[obj].extra = id;
    const int32_t arr = new_node(Kind::kArray);
    g_.nodes_[arr].items = id;
    const int32_t str = new_node(Kind::kString);
    const int32_t num = new_node(Kind::kNumber);
    const int32_t lit = new_node(Kind::kLiterals);
    LiteralSet set;
    for (const char* t : {"true", "false", "null"}) {
      set.text.push_back(t);
      set.value.push_back(-1);
      set.tail.push_back(0);
      set.json.push_back(json::parse(t));
    }
    g_.nodes_[lit].literals = g_.add_literals(std::move(set));
    g_.nodes_[id].alts = {obj, arr, str, num, lit};
    return id;
  }

  static uint64_t count(const json& s, const char* kw, uint64_t dflt) {
    auto it = s.find(kw);
    if (it == s.end()) return dflt;
    if (it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0))
      return it->get<uint64_t>();
    if (it->is_number_float() && it->get<double>() >= 0 &&
        it->get<double>() == std::floor(it->get<double>()) && it->get<double>() < 1e18)
      return static_cast<uint64_t>(it->get<double>());
    throw SchemaError(kw, "'" + std::string(kw) + "' must be a non-negative integer");
  }

  void fill_type(int32_t id, const std::string& t, const json& s, const std::string& ptr) {
    if (t == "object") {
      std::vector<SchemaProperty> props;
      int32_t extra = SchemaNode::kExtraAny;
      if (auto ap = s.find("additionalProperties"); ap != s.end()) {
        if (ap->is_boolean())
          extra = ap->get<bool>() ? SchemaNode::kExtraAny : SchemaNode::kExtraNone;
        else
          extra = compile(*ap, ptr + "/additionalProperties");
      }
      if (auto p = s.find("properties"); p != s.end()) {
        if (!p->is_object()) throw SchemaError("properties", "'properties' must be an object");
        for (auto& [name, sub] : p->items())
          props.push_back({name, compile(sub, ptr + "/properties/" + escape(name)), false});
      }
      if (auto r = s.find("required"); r != s.end()) {
        if (!r->is_array()) throw SchemaError("required", "'required' must be an array");
        for (auto& name : *r) {
          if (!name.is_string())
            throw SchemaError("required", "'required' entries must be strings");
          const std::string n = name.get<std::string>();
          auto it = std::find_if(props.begin(), props.end(),
                                 [&](const SchemaProperty& p) { return p.name == n; });
          if (it != props.end()) {
            it->required = true;
            continue;
          }
          if (extra == SchemaNode::kExtraNone)
            throw SchemaError("required", "required property '" + n +
                                              "' is not in 'properties' and "
                                              "additionalProperties is false (at '" +
                                              where(ptr) + "')");
          props.push_back({n, extra >= 0 ? extra : any(), true});
        }
      }
      if (props.size() > 256)
        throw SchemaError("properties", "more than 256 properties in one object");
      if (props.empty() && extra == SchemaNode::kExtraAny) extra = any();
      SchemaNode& n = g_.nodes_[id];
      n.kind = Kind::kObject;
      n.props = std::move(props);
      n.extra = extra;
    } else if (t == "array") {
      int32_t items = -1;
      if (auto it = s.find("items"); it != s.end()) {
        if (it->is_array())
          throw SchemaError("items", "'items' as an array (tuple form) is not supported");
        items = compile(*it, ptr + "/items");
      } else {
        items = any();
      }
      SchemaNode& n = g_.nodes_[id];
      n.kind = Kind::kArray;
      n.items = items;
      n.min_items = count(s, "minItems", 0);
      n.max_items = count(s, "maxItems", std::numeric_limits<uint64_t>::max());
    } else if (t == "string") {
      const uint64_t lo = count(s, "minLength", 0);
      const uint64_t hi = count(s, "maxLength", std::numeric_limits<uint64_t>::max());
      SchemaNode& n = g_.nodes_[id];
      n.kind = Kind::kString;
      n.min_len = lo;
      n.max_len = hi;
    } else if (t == "number" || t == "integer") {
      g_.nodes_[id].kind = t == "number" ? Kind::kNumber : Kind::kInteger;
    } else {
      LiteralSet set;
      for (const char* v : t == "boolean" ? std::vector<const char*>{"true", "false"}
                                          : std::vector<const char*>{"null"}) {
        set.text.push_back(v);
        set.value.push_back(-1);
        set.tail.push_back(0);
        set.json.push_back(json::parse(v));
      }
      const int32_t lits = g_.add_literals(std::move(set));
      g_.nodes_[id].kind = Kind::kLiterals;
      g_.nodes_[id].literals = lits;
    }
  }

  static std::string escape(const std::string& name) {
    std::string out;
    for (char c : name) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else
        out += c;
    }
    return out;
  }

  const json& resolve_pointer(const std::string& ref) const {
    const json* cur = &root_;
    size_t pos = 1;
    while (pos < ref.size()) {
      if (ref[pos] != '/') throw SchemaError("$ref", "malformed '$ref' '" + ref + "'");
      size_t end = ref.find('/', pos + 1);
      if (end == std::string::npos) end = ref.size();
      std::string part;
      for (size_t i = pos + 1; i < end; ++i) {
        if (ref[i] == '~' && i + 1 < end && (ref[i + 1] == '0' || ref[i + 1] == '1')) {
          part += ref[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          part += ref[i];
        }
      }
      if (cur->is_object() && cur->contains(part)) {
        cur = &(*cur)[part];
      } else if (cur->is_array() && !part.empty() &&
                 part.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoul(part) < cur->size()) {
        cur = &(*cur)[std::stoul(part)];
      } else {
        throw SchemaError("$ref", "'$ref' '" + ref + "' does not resolve inside the schema");
      }
      pos = end;
    }
    return *cur;
  }
};

int32_t SchemaGraph::add(const json& schema) {
  SchemaCompiler c(*this, schema);
  const int32_t root = c.compile(schema, "");
  // A chain of refs with no schema in it can never start a value.
  for (int32_t i = 0; i < size(); ++i) {
    int32_t n = i, steps = 0;
    while (nodes_[n].kind == Kind::kRef) {
      n = nodes_[n].alts[0];
      if (++steps > size()) throw SchemaError("$ref", "'$ref' refers to itself in a cycle");
    }
  }
  finish();
  if (min_bytes(root) >= kSchemaInf)
    throw SchemaError("schema", "the schema admits no finite document");
  return root;
}

int32_t SchemaGraph::add_literals(LiteralSet set) {
  std::vector<size_t> order(set.text.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return set.text[a] < set.text[b]; });
  LiteralSet sorted;
  for (size_t i : order) {
    sorted.text.push_back(set.text[i]);
    sorted.value.push_back(set.value[i]);
    sorted.tail.push_back(set.tail[i]);
    if (i < set.json.size()) sorted.json.push_back(set.json[i]);
  }
  sets_.push_back(std::move(sorted));
  return static_cast<int32_t>(sets_.size() - 1);
}

int32_t SchemaGraph::resolve(int32_t n) const {
  while (nodes_[static_cast<size_t>(n)].kind == Kind::kRef)
    n = nodes_[static_cast<size_t>(n)].alts[0];
  return n;
}

namespace {

// Bytes still needed by an object after the properties before `pos`: the required ones from
// pos on (each with a comma, except the very first of the object) and the closing brace.
int64_t need(const SchemaNode& n, size_t pos, bool first) {
  return sat_add(n.req_sum[pos] - (first && n.req_count[pos] > 0 ? 1 : 0), 1);
}

}  // namespace

void SchemaGraph::finish() {
  for (auto& n : nodes_) n.min_bytes = kSchemaInf;
  auto key_len = [](const std::string& name) {
    return static_cast<int64_t>(json(name).dump().size());
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (auto& n : nodes_) {
      int64_t mb = kSchemaInf;
      switch (n.kind) {
        case Kind::kAny:
          mb = n.alts.empty() ? kSchemaInf : 1;
          break;
        case Kind::kObject: {
          if (n.is_map()) {
            mb = 2;
            break;
          }
          const size_t np = n.props.size();
          n.req_sum.assign(np + 1, 0);
          n.req_count.assign(np + 1, 0);
          for (size_t j = np; j-- > 0;) {
            const SchemaProperty& p = n.props[j];
            n.req_sum[j] = n.req_sum[j + 1];
            n.req_count[j] = n.req_count[j + 1];
            if (p.required) {
              n.req_sum[j] = sat_add(n.req_sum[j], sat_add(key_len(p.name) + 2, min_bytes(p.node)));
              ++n.req_count[j];
            }
          }
          mb = sat_add(1, need(n, 0, true));
          break;
        }
        case Kind::kArray:
          if (n.min_items > n.max_items)
            mb = kSchemaInf;
          else if (n.min_items == 0)
            mb = 2;
          else
            mb = sat_add(sat_mul(n.min_items, sat_add(min_bytes(n.items), 1)), 1);
          break;
        case Kind::kString:
          mb = n.min_len > n.max_len ? kSchemaInf : sat_mul(1, sat_add(2, sat_mul(n.min_len, 1)));
          break;
        case Kind::kNumber:
        case Kind::kInteger:
          mb = 1;
          break;
        case Kind::kLiterals:
          for (auto& t : literals(n.literals).text)
            mb = std::min<int64_t>(mb, static_cast<int64_t>(t.size()));
          break;
        case Kind::kAnyOf:
        case Kind::kRef:
          for (int32_t a : n.alts) mb = std::min(mb, min_bytes(a));
          break;
      }
      if (mb < n.min_bytes) {
        n.min_bytes = mb;
        changed = true;
      }
    }
  }
  // Key sets: at each position the keys up to and including the next required one.
  for (auto& n : nodes_) {
    if (n.kind != Kind::kObject || n.is_map() || !n.key_set.empty()) continue;
    const size_t np = n.props.size();
    n.key_set.assign(np + 1, -1);
    n.key_cost.assign(np + 1, kSchemaInf);
    for (size_t pos = 0; pos < np; ++pos) {
      LiteralSet set;
      for (size_t j = pos; j < np; ++j) {
        const SchemaProperty& p = n.props[j];
        if (min_bytes(p.node) < kSchemaInf) {
          set.text.push_back(json(p.name).dump());
          set.value.push_back(static_cast<int32_t>(j));
          const int64_t tail = sat_add(1 + min_bytes(p.node), need(n, j + 1, false));
          set.tail.push_back(tail);
          n.key_cost[pos] = std::min(n.key_cost[pos],
                                     sat_add(static_cast<int64_t>(set.text.back().size()), tail));
        }
        if (p.required) break;
      }
      if (!set.text.empty()) n.key_set[pos] = add_literals(std::move(set));
    }
  }
}

bool SchemaGraph::validate(int32_t id, const json& v) const {
  const SchemaNode& n = node(id);
  switch (n.kind) {
    case Kind::kAny:
      return n.alts.empty() ? false : true;
    case Kind::kRef:
      return validate(n.alts[0], v);
    case Kind::kAnyOf:
      for (int32_t a : n.alts)
        if (validate(a, v)) return true;
      return false;
    case Kind::kObject: {
      if (!v.is_object()) return false;
      for (auto& p : n.props)
        if (p.required && !v.contains(p.name)) return false;
      for (const auto& item : v.items()) {
        // Named, not a structured binding: clang 14 (the fuzz build) cannot capture those.
        const std::string& k = item.key();
        const auto& val = item.value();
        auto it = std::find_if(n.props.begin(), n.props.end(),
                               [&](const SchemaProperty& p) { return p.name == k; });
        if (it != n.props.end()) {
          if (!validate(it->node, val)) return false;
        } else if (n.extra == SchemaNode::kExtraNone) {
          return false;
        } else if (n.extra >= 0 && !validate(n.extra, val)) {
          return false;
        }
      }
      return true;
    }
    case Kind::kArray:
      if (!v.is_array() || v.size() < n.min_items || v.size() > n.max_items) return false;
      for (auto& e : v)
        if (!validate(n.items, e)) return false;
      return true;
    case Kind::kString: {
      if (!v.is_string()) return false;
      const size_t len = code_points(v.get<std::string>());
      return len >= n.min_len && len <= n.max_len;
    }
    case Kind::kNumber:
      return v.is_number();
    case Kind::kInteger:
      if (v.is_number_integer()) return true;
      return v.is_number_float() && std::isfinite(v.get<double>()) &&
             v.get<double>() == std::floor(v.get<double>());
    case Kind::kLiterals:
      for (auto& j : literals(n.literals).json)
        if (j == v) return true;
      return false;
  }
  return false;
}

}  // namespace hearth
