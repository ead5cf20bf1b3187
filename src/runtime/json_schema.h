#pragma once
// JSON Schema, the subset structured outputs use, compiled to a graph that SchemaConstraint walks
// byte by byte. Supported: type (one or a list), properties, required, additionalProperties,
// items, minItems, maxItems, minLength, maxLength, enum, const, anyOf, allOf with one member,
// $ref to "#" or any JSON pointer inside the document ($defs, definitions), uniqueItems: false,
// and the annotations (title, description, default, examples, ...). Anything else throws a
// SchemaError that names the keyword: a constraint that ignored it would let through documents
// the client's validator rejects.
//
// Generation writes a subset of what the schema allows, so every document validates:
// properties come in their declared order, extra keys are never written next to declared ones,
// numbers have at most 16 digits before and after the point, and a length-bounded string has no
// \u escapes (a surrogate pair is one character to a validator, two escapes to us).
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace hearth {

class SchemaError : public std::runtime_error {
 public:
  SchemaError(std::string keyword, const std::string& message)
      : std::runtime_error(message), keyword_(std::move(keyword)) {}
  const std::string& keyword() const { return keyword_; }

 private:
  std::string keyword_;
};

// Costs are bytes of the shortest completion; every byte is a token of a byte-level vocabulary,
// so a cost in bytes bounds the tokens needed.
constexpr int64_t kSchemaInf = int64_t{1} << 40;

// Literal alternatives that are matched byte by byte: property keys (with their quotes), enum
// and const values, true/false/null, tool-call prefixes. Sorted, so the alternatives that share
// the bytes matched so far form one range.
struct LiteralSet {
  std::vector<std::string> text;
  std::vector<int32_t> value;  // what the owner learns when it completes (a property index)
  std::vector<int64_t> tail;   // bytes the owner still needs after this alternative
  std::vector<nlohmann::ordered_json> json;  // the parsed value (enum/const), for validation
};

struct SchemaProperty {
  std::string name;
  int32_t node = -1;
  bool required = false;
};

struct SchemaNode {
  enum class Kind : uint8_t {
    kAny,
    kObject,
    kArray,
    kString,
    kNumber,
    kInteger,
    kLiterals,
    kAnyOf,
    kRef
  };
  Kind kind = Kind::kAny;
  // kObject. extra: the schema of keys not in props (kExtraNone: forbidden, kExtraAny: anything).
  // With no props the object is a map: free string keys, values of `extra`.
  std::vector<SchemaProperty> props;
  int32_t extra = kExtraAny;
  std::vector<int32_t> key_set;  // per position: the keys that may come next (-1: none)
  std::vector<int64_t> req_sum;  // per position: bytes of the required properties from there on
  std::vector<int32_t> req_count;
  std::vector<int64_t> key_cost;  // per position: after a comma, the cheapest way to finish
  // kArray
  int32_t items = -1;
  uint64_t min_items = 0, max_items = std::numeric_limits<uint64_t>::max();
  // kString
  uint64_t min_len = 0, max_len = std::numeric_limits<uint64_t>::max();
  // kLiterals
  int32_t literals = -1;
  // kAnyOf: alternatives; kRef: the target in alts[0]
  std::vector<int32_t> alts;
  int64_t min_bytes = kSchemaInf;  // the shortest document of this node

  static constexpr int32_t kExtraNone = -1;
  static constexpr int32_t kExtraAny = -2;
  bool bounded_string() const {
    return min_len > 0 || max_len != std::numeric_limits<uint64_t>::max();
  }
  bool is_map() const { return kind == Kind::kObject && props.empty() && extra != kExtraNone; }
};

class SchemaGraph {
 public:
  // Compiles one schema into the graph and returns its root node. Several schemas (one per tool)
  // may share a graph. Throws SchemaError.
  int32_t add(const nlohmann::ordered_json& schema);

  // The node a value starts in: refs followed.
  int32_t resolve(int32_t node) const;
  bool validate(int32_t node, const nlohmann::ordered_json& value) const;

  const SchemaNode& node(int32_t id) const { return nodes_[static_cast<size_t>(id)]; }
  const LiteralSet& literals(int32_t id) const { return sets_[static_cast<size_t>(id)]; }
  int32_t add_literals(LiteralSet set);  // sorts it
  int64_t min_bytes(int32_t id) const { return node(id).min_bytes; }
  int32_t size() const { return static_cast<int32_t>(nodes_.size()); }

 private:
  friend class SchemaCompiler;
  std::vector<SchemaNode> nodes_;
  std::vector<LiteralSet> sets_;
  void finish();  // shortest lengths (a fixed point, for recursive refs), key sets, costs
};

}  // namespace hearth
