// The JSON Schema compiler: each supported keyword compiles to what the validator and the
// constraint expect, and every unsupported keyword is refused by name.
#include "runtime/json_schema.h"

#include <gtest/gtest.h>

namespace hearth {
namespace {

using json = nlohmann::ordered_json;

struct Compiled {
  SchemaGraph g;
  int32_t root;
};

Compiled compile(const std::string& schema) {
  Compiled c;
  c.root = c.g.add(json::parse(schema));
  return c;
}

bool valid(const Compiled& c, const std::string& doc) {
  return c.g.validate(c.root, json::parse(doc));
}

TEST(JsonSchema, ObjectPropertiesRequiredAndAdditional) {
  auto c = compile(R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},
                       "required":["a"],"additionalProperties":false})");
  EXPECT_TRUE(valid(c, R"({"a":"x"})"));
  EXPECT_TRUE(valid(c, R"({"a":"x","b":3})"));
  EXPECT_FALSE(valid(c, R"({"b":3})"));            // required
  EXPECT_FALSE(valid(c, R"({"a":"x","c":1})"));    // additionalProperties: false
  EXPECT_FALSE(valid(c, R"({"a":"x","b":1.5})"));  // integer
  EXPECT_FALSE(valid(c, R"([])"));
  EXPECT_EQ(c.g.min_bytes(c.root), static_cast<int64_t>(std::string(R"({"a":""})").size()));
  // Extra keys allowed by default, and typed by a schema.
  auto open = compile(R"({"type":"object","properties":{"a":{"type":"string"}}})");
  EXPECT_TRUE(valid(open, R"({"z":[1,2]})"));
  auto typed = compile(R"({"type":"object","additionalProperties":{"type":"number"}})");
  EXPECT_TRUE(valid(typed, R"({"x":1,"y":2.5})"));
  EXPECT_FALSE(valid(typed, R"({"x":"1"})"));
  EXPECT_TRUE(typed.g.node(typed.g.resolve(typed.root)).is_map());
}

TEST(JsonSchema, RequiredNamesOutsidePropertiesBecomeProperties) {
  auto c = compile(R"({"type":"object","required":["q"]})");
  EXPECT_TRUE(valid(c, R"({"q":null})"));
  EXPECT_FALSE(valid(c, R"({})"));
  EXPECT_EQ(c.g.min_bytes(c.root), static_cast<int64_t>(std::string(R"({"q":0})").size()));
  try {
    compile(R"({"type":"object","required":["q"],"additionalProperties":false})");
    FAIL() << "expected a SchemaError";
  } catch (const SchemaError& e) {
    EXPECT_EQ(e.keyword(), "required");
  }
}

TEST(JsonSchema, ScalarTypes) {
  EXPECT_TRUE(valid(compile(R"({"type":"string"})"), R"("hi")"));
  EXPECT_FALSE(valid(compile(R"({"type":"string"})"), "1"));
  EXPECT_TRUE(valid(compile(R"({"type":"number"})"), "-1.5e3"));
  EXPECT_TRUE(valid(compile(R"({"type":"integer"})"), "42"));
  EXPECT_TRUE(valid(compile(R"({"type":"integer"})"), "42.0"));  // as validators count it
  EXPECT_FALSE(valid(compile(R"({"type":"integer"})"), "4.2"));
  EXPECT_TRUE(valid(compile(R"({"type":"boolean"})"), "false"));
  EXPECT_FALSE(valid(compile(R"({"type":"boolean"})"), "null"));
  EXPECT_TRUE(valid(compile(R"({"type":"null"})"), "null"));
  auto multi = compile(R"({"type":["string","null"]})");
  EXPECT_TRUE(valid(multi, R"("a")"));
  EXPECT_TRUE(valid(multi, "null"));
  EXPECT_FALSE(valid(multi, "1"));
  auto any = compile("{}");
  EXPECT_TRUE(valid(any, R"({"a":[1,"b",null]})"));
  EXPECT_EQ(any.g.min_bytes(any.root), 1);
}

TEST(JsonSchema, EnumAndConstFilteredByTheRest) {
  auto c = compile(R"({"type":"string","enum":["red","green",3,null]})");
  EXPECT_TRUE(valid(c, R"("red")"));
  EXPECT_FALSE(valid(c, "3"));  // not a string
  EXPECT_FALSE(valid(c, R"("blue")"));
  const SchemaNode& n = c.g.node(c.g.resolve(c.root));
  ASSERT_EQ(n.kind, SchemaNode::Kind::kLiterals);
  EXPECT_EQ(c.g.literals(n.literals).text, (std::vector<std::string>{"\"green\"", "\"red\""}));
  auto k = compile(R"({"const":{"a":[1,2]}})");
  EXPECT_TRUE(valid(k, R"({"a":[1,2]})"));
  EXPECT_FALSE(valid(k, R"({"a":[1]})"));
  auto len = compile(R"({"enum":["ab","abcdef"],"maxLength":3})");
  EXPECT_TRUE(valid(len, R"("ab")"));
  EXPECT_FALSE(valid(len, R"("abcdef")"));
  try {
    compile(R"({"type":"integer","enum":["a"]})");
    FAIL() << "expected a SchemaError";
  } catch (const SchemaError& e) {
    EXPECT_EQ(e.keyword(), "enum");
  }
}

TEST(JsonSchema, ArraysAndStringLengths) {
  auto a = compile(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})");
  EXPECT_FALSE(valid(a, "[]"));
  EXPECT_TRUE(valid(a, "[1]"));
  EXPECT_TRUE(valid(a, "[1,2]"));
  EXPECT_FALSE(valid(a, "[1,2,3]"));
  EXPECT_FALSE(valid(a, R"(["1"])"));
  EXPECT_EQ(a.g.min_bytes(a.root), 3);  // [0]
  auto s = compile(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_FALSE(valid(s, R"("a")"));
  EXPECT_TRUE(valid(s, "\"\xC3\xA9\xC3\xA9\""));  // two characters, four bytes
  EXPECT_FALSE(valid(s, R"("abcd")"));
  EXPECT_EQ(s.g.min_bytes(s.root), 4);
  EXPECT_THROW(compile(R"({"type":"array","minItems":3,"maxItems":2})"), SchemaError);
  EXPECT_THROW(compile(R"({"type":"string","minLength":-1})"), SchemaError);
}

TEST(JsonSchema, AnyOfRefsAndRecursion) {
  auto c = compile(R"({"$defs":{"node":{"type":"object","properties":{
        "v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
        "required":["v","kids"],"additionalProperties":false}},
      "$ref":"#/$defs/node"})");
  EXPECT_TRUE(valid(c, R"({"v":1,"kids":[{"v":2,"kids":[]}]})"));
  EXPECT_FALSE(valid(c, R"({"v":1,"kids":[{"v":2}]})"));
  EXPECT_EQ(c.g.min_bytes(c.root),
            static_cast<int64_t>(std::string(R"({"v":0,"kids":[]})").size()));
  auto u =
      compile(R"({"anyOf":[{"type":"integer"},{"type":"object","properties":{"x":{"type":"null"}},
                       "required":["x"]}]})");
  EXPECT_TRUE(valid(u, "7"));
  EXPECT_TRUE(valid(u, R"({"x":null})"));
  EXPECT_FALSE(valid(u, R"("7")"));
  auto d =
      compile(R"({"definitions":{"s":{"type":"string"}},"allOf":[{"$ref":"#/definitions/s"}]})");
  EXPECT_TRUE(valid(d, R"("s")"));
  auto self = compile(R"({"type":"object","properties":{"next":{"$ref":"#"}}})");
  EXPECT_TRUE(valid(self, R"({"next":{"next":{}}})"));
  // Recursion with no way out admits no finite document.
  EXPECT_THROW(compile(R"({"type":"object","properties":{"n":{"$ref":"#"}},"required":["n"]})"),
               SchemaError);
}

TEST(JsonSchema, UnsupportedKeywordsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type":"string","pattern":"^a"})", "pattern"},
      {R"({"type":"string","format":"date"})", "format"},
      {R"({"type":"number","minimum":0})", "minimum"},
      {R"({"type":"number","maximum":0})", "maximum"},
      {R"({"type":"number","exclusiveMinimum":0})", "exclusiveMinimum"},
      {R"({"type":"integer","multipleOf":2})", "multipleOf"},
      {R"({"oneOf":[{"type":"string"}]})", "oneOf"},
      {R"({"not":{"type":"string"}})", "not"},
      {R"({"if":{},"then":{}})", "if"},
      {R"({"type":"object","patternProperties":{}})", "patternProperties"},
      {R"({"type":"object","propertyNames":{}})", "propertyNames"},
      {R"({"type":"object","minProperties":1})", "minProperties"},
      {R"({"type":"array","prefixItems":[]})", "prefixItems"},
      {R"({"type":"array","contains":{}})", "contains"},
      {R"({"type":"array","uniqueItems":true})", "uniqueItems"},
      {R"({"type":"array","items":[{"type":"string"}]})", "items"},
      {R"({"allOf":[{"type":"string"},{"type":"string"}]})", "allOf"},
      {R"({"type":"string","anyOf":[{"type":"string"}]})", "anyOf"},
      {R"({"$ref":"https://example.com/s.json"})", "$ref"},
      {R"({"$ref":"#/$defs/missing"})", "$ref"},
      {R"({"type":"object","properties":{"a":{"type":"string","nullable":true}}})", "nullable"},
      {R"({"type":"date"})", "type"},
      {R"({"type":"object","properties":{"a":false}})", "false"},
  };
  for (auto& [schema, keyword] : cases) {
    SCOPED_TRACE(schema);
    try {
      compile(schema);
      ADD_FAILURE() << "accepted";
    } catch (const SchemaError& e) {
      EXPECT_EQ(e.keyword(), keyword);
      EXPECT_NE(std::string(e.what()).find(keyword), std::string::npos) << e.what();
    }
  }
}

TEST(JsonSchema, AnnotationsAreIgnored) {
  auto c = compile(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","title":"T",
      "description":"d","type":"object","properties":{"a":{"type":"string","default":"x",
      "examples":["y"],"deprecated":false,"$comment":"c"}},"required":["a"],
      "additionalProperties":false})");
  EXPECT_TRUE(valid(c, R"({"a":"q"})"));
}

}  // namespace
}  // namespace hearth
