// Schema-constrained decoding: whatever is sampled among the allowed tokens parses (nlohmann's
// parser) and validates against the schema, the document closes within the token budget, the
// trie walk and the string table agree with trying every token, and each keyword is enforced.
#include "runtime/schema_constraint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <random>

#include "tokenizer/load.h"

namespace hearth {
namespace {

using json = nlohmann::ordered_json;
constexpr int32_t kEnd = 1000;

// Every byte as its own token, multi-byte tokens that cross grammar boundaries, an end token.
std::shared_ptr<const JsonVocab> small_vocab() {
  std::vector<std::string> bytes(kEnd + 1);
  for (int b = 0; b < 256; ++b)
    bytes[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  const std::vector<std::string> multi = {"{\"",
                                          "\":",
                                          "\": ",
                                          "\"}",
                                          "\",",
                                          ", \"",
                                          "}}",
                                          "]]",
                                          "}]",
                                          "],",
                                          "true",
                                          "false",
                                          "null",
                                          "tr",
                                          "ue",
                                          " \"",
                                          "\n",
                                          "  ",
                                          "abc",
                                          "abc\"",
                                          "\\n",
                                          "\\u00",
                                          "12",
                                          "3.5",
                                          "e+",
                                          "-0",
                                          "0.",
                                          "[{",
                                          "[[",
                                          "{}",
                                          "[]",
                                          "\"a\":1}",
                                          "Hello world",
                                          "\xC3\xA9",
                                          "\xE2\x82",
                                          "\xAC",
                                          "x\"y",
                                          "1,2",
                                          "nullx",
                                          "\"name",
                                          "\"a\"",
                                          "\"b\":",
                                          "\"red\"",
                                          "re",
                                          "green",
                                          "\"kids\":[",
                                          "\"v\":",
                                          "aaaaaaaaaa",
                                          "{\"name\": \"",
                                          "\", \"parameters\": "};
  for (size_t i = 0; i < multi.size(); ++i) bytes[300 + i] = multi[i];
  return std::make_shared<const JsonVocab>(bytes, std::vector<int32_t>{kEnd});
}

std::string decode(const JsonVocab& v, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids)
    if (!v.is_end(id)) s += v.bytes(id);
  return s;
}

struct Constrained {
  std::shared_ptr<SchemaGraph> graph = std::make_shared<SchemaGraph>();
  SchemaDocument doc;
};

Constrained setup(const std::string& schema) {
  Constrained s;
  s.doc.alternatives.push_back({"", s.graph->add(json::parse(schema))});
  return s;
}

// Samples uniformly among the allowed tokens until the end token or the budget.
std::vector<int32_t> random_walk(const std::shared_ptr<const JsonVocab>& v, const Constrained& s,
                                 int budget, uint64_t seed, bool* complete = nullptr) {
  SchemaConstraint c(v, s.graph, s.doc, budget);
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out;
  while (static_cast<int>(out.size()) < budget) {
    auto allowed = c.allowed_tokens();
    EXPECT_FALSE(allowed.empty());
    if (allowed.empty()) break;
    const int32_t t = allowed[rng() % allowed.size()];
    c.accept(t);
    EXPECT_FALSE(c.broken()) << decode(*v, out) << " + " << v->bytes(t);
    out.push_back(t);
    if (v->is_end(t)) break;
  }
  if (complete) *complete = c.complete();
  return out;
}

void expect_valid(const Constrained& s, const std::string& text) {
  SCOPED_TRACE(text);
  json j;
  ASSERT_NO_THROW(j = json::parse(text));
  EXPECT_TRUE(s.graph->validate(s.doc.alternatives[0].node, j));
}

const std::vector<std::string>& written_schemas() {
  static const std::vector<std::string> k = {
      R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},
          "required":["a","b"],"additionalProperties":false})",
      R"({"type":"object","properties":{"x":{"type":"number"},"y":{"type":"boolean"},
          "z":{"type":"null"}},"required":["y"],"additionalProperties":false})",
      R"({"type":"string","enum":["red","green","blue"]})",
      R"({"enum":[1,12,123,"a",null,true,[1,2],{"k":"v"}]})",
      R"({"const":"fixed"})",
      R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4})",
      R"({"type":"string","minLength":3,"maxLength":5})",
      R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":2},{"type":"null"}]})",
      R"({"anyOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],
          "additionalProperties":false},{"type":"object","properties":{"a":{"type":"string"},
          "b":{"type":"null"}},"required":["a","b"],"additionalProperties":false}]})",
      R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
          "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},
          "required":["v","kids"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
      R"({"type":"object","additionalProperties":{"type":"array","items":{"type":"boolean"}}})",
      R"({"type":"object"})",
      R"({})",
      R"({"type":["integer","string"]})",
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":8},
          "tags":{"type":"array","items":{"type":"string","enum":["x","y"]},"maxItems":3},
          "meta":{"type":"object","properties":{"k":{"type":"number"}},"required":["k"],
          "additionalProperties":false}},"required":["name","tags","meta"],
          "additionalProperties":false})",
  };
  return k;
}

TEST(SchemaConstraint, RandomWalksValidateOnWrittenSchemas) {
  auto v = small_vocab();
  for (auto& schema : written_schemas()) {
    SCOPED_TRACE(schema);
    Constrained s = setup(schema);
    const int shortest = static_cast<int>(s.graph->min_bytes(s.doc.alternatives[0].node));
    for (int budget : {shortest, shortest + 3, shortest + 20, 80}) {
      for (uint64_t seed = 0; seed < 12; ++seed) {
        bool complete = false;
        auto ids = random_walk(v, s, budget, seed * 31 + static_cast<uint64_t>(budget), &complete);
        ASSERT_LE(static_cast<int>(ids.size()), budget);
        EXPECT_TRUE(complete);
        expect_valid(s, decode(*v, ids));
      }
    }
  }
}

// A seeded generator of schemas from the supported keywords.
json random_schema(std::mt19937_64& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int kind = depth <= 0 ? 2 + pick(6) : pick(9);
  switch (kind) {
    case 0: {
      json props = json::object(), req = json::array();
      const int n = 1 + pick(3);
      for (int i = 0; i < n; ++i) {
        const std::string name = std::string(1, static_cast<char>('a' + i)) + (pick(2) ? "_k" : "");
        props[name] = random_schema(rng, depth - 1);
        if (pick(2)) req.push_back(name);
      }
      json o = {{"type", "object"}, {"properties", props}, {"required", req}};
      if (pick(3)) o["additionalProperties"] = false;
      return o;
    }
    case 1: {
      json a = {{"type", "array"}, {"items", random_schema(rng, depth - 1)}};
      const int lo = pick(3);
      if (pick(2)) a["minItems"] = lo;
      if (pick(2)) a["maxItems"] = lo + pick(3);
      return a;
    }
    case 2: {
      json s = {{"type", "string"}};
      if (pick(2)) s["minLength"] = pick(4);
      if (pick(2)) s["maxLength"] = 4 + pick(4);
      return s;
    }
    case 3:
      return {{"type", pick(2) ? "number" : "integer"}};
    case 4:
      return {{"type", pick(2) ? "boolean" : "null"}};
    case 5:
      return {{"enum", json::array({"a", 7, pick(2) ? json(nullptr) : json("bc")})}};
    case 6:
      return {{"const", pick(2) ? json("k") : json(3)}};
    case 7:
      return {{"type", json::array({"string", "null"})}};
    default:
      return {
          {"anyOf", json::array({random_schema(rng, depth - 1), random_schema(rng, depth - 1)})}};
  }
}

TEST(SchemaConstraint, RandomWalksValidateOnGeneratedSchemas) {
  auto v = small_vocab();
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 60; ++i) {
    const json schema = random_schema(rng, 3);
    SCOPED_TRACE(schema.dump());
    Constrained s = setup(schema.dump());
    const int shortest = static_cast<int>(s.graph->min_bytes(s.doc.alternatives[0].node));
    for (int budget : {shortest, shortest + 10, 60}) {
      bool complete = false;
      auto ids = random_walk(v, s, std::max(budget, shortest), rng(), &complete);
      EXPECT_TRUE(complete);
      expect_valid(s, decode(*v, ids));
    }
  }
}

TEST(SchemaConstraint, TrieWalkAgreesWithTryingEveryToken) {
  auto v = small_vocab();
  for (auto& schema : written_schemas()) {
    SCOPED_TRACE(schema);
    Constrained s = setup(schema);
    for (uint64_t seed = 0; seed < 4; ++seed) {
      const int budget = 60;
      SchemaConstraint c(v, s.graph, s.doc, budget);
      std::mt19937_64 rng(seed);
      for (int step = 0; step < budget; ++step) {
        const int64_t limit = budget - step - 1;
        auto fast = c.allowed_tokens();
        std::vector<int32_t> slow;
        for (int32_t id = 0; id < v->size(); ++id) {
          if (v->is_end(id)) {
            if (c.complete()) slow.push_back(id);
            continue;
          }
          if (v->bytes(id).empty()) continue;
          SchemaConstraint copy = c;
          copy.accept(id);
          if (!copy.broken() && copy.closing_cost() <= limit) slow.push_back(id);
        }
        ASSERT_EQ(fast, slow) << "step " << step;
        if (fast.empty()) break;
        const int32_t t = fast[rng() % fast.size()];
        if (v->is_end(t)) break;
        c.accept(t);
      }
    }
  }
}

bool allowed(SchemaConstraint& c, int32_t id) {
  auto a = c.allowed_tokens();
  return std::binary_search(a.begin(), a.end(), id);
}
bool accepts(const std::string& schema, const std::string& text) {
  auto v = small_vocab();
  Constrained s = setup(schema);
  SchemaConstraint c(v, s.graph, s.doc, 200);
  for (unsigned char ch : text) {
    if (!allowed(c, ch)) return false;
    c.accept(ch);
  }
  return allowed(c, kEnd);
}

TEST(SchemaConstraint, EachKeywordIsEnforced) {
  const std::string obj = R"({"type":"object","properties":{"a":{"type":"string"},
      "b":{"type":"integer"}},"required":["b"],"additionalProperties":false})";
  EXPECT_TRUE(accepts(obj, R"({"a":"x","b":1})"));
  EXPECT_TRUE(accepts(obj, R"({ "b" : -20 })"));
  EXPECT_FALSE(accepts(obj, R"({"a":"x"})"));        // required b missing
  EXPECT_FALSE(accepts(obj, R"({"c":1,"b":1})"));    // additionalProperties: false
  EXPECT_FALSE(accepts(obj, R"({"b":1.5})"));        // integer
  EXPECT_FALSE(accepts(obj, R"({"b":1,"a":"x"})"));  // generation keeps the declared order
  EXPECT_TRUE(accepts(R"({"type":"number"})", "-0.5e+12"));
  EXPECT_FALSE(accepts(R"({"type":"number"})", "01"));
  EXPECT_TRUE(accepts(R"({"type":"boolean"})", "true"));
  EXPECT_FALSE(accepts(R"({"type":"boolean"})", "null"));
  EXPECT_TRUE(accepts(R"({"type":"null"})", "null"));
  EXPECT_TRUE(accepts(R"({"enum":[1,12]})", "1"));
  EXPECT_TRUE(accepts(R"({"enum":[1,12]})", "12"));
  EXPECT_FALSE(accepts(R"({"enum":[1,12]})", "2"));
  EXPECT_TRUE(accepts(R"({"const":"k"})", R"("k")"));
  EXPECT_FALSE(accepts(R"({"const":"k"})", R"("kk")"));
  const std::string arr = R"({"type":"array","items":{"type":"null"},"minItems":1,"maxItems":2})";
  EXPECT_FALSE(accepts(arr, "[]"));
  EXPECT_TRUE(accepts(arr, "[null, null]"));
  EXPECT_FALSE(accepts(arr, "[null,null,null]"));
  const std::string str = R"({"type":"string","minLength":2,"maxLength":3})";
  EXPECT_FALSE(accepts(str, R"("a")"));
  EXPECT_TRUE(accepts(str, "\"\xC3\xA9\\n\""));  // two characters: é and an escape
  EXPECT_FALSE(accepts(str, R"("abcd")"));
  EXPECT_FALSE(accepts(str, R"("\u0041b")"));  // no \u escapes in bounded strings
  EXPECT_TRUE(accepts(R"({"type":"string"})", R"("\u0041")"));
  // Surrogate escapes only as a high-low pair: strict parsers refuse a lone one.
  EXPECT_TRUE(accepts(R"({"type":"string"})", R"("\uD83D\uDE00 \udbff\udfff")"));
  EXPECT_FALSE(accepts(R"({"type":"string"})", R"("\uD83D")"));
  EXPECT_FALSE(accepts(R"({"type":"string"})", R"("\uD83Dx")"));
  EXPECT_FALSE(accepts(R"({"type":"string"})", R"("\uD83D\n")"));
  EXPECT_FALSE(accepts(R"({"type":"string"})", R"("\uD83D\uD83D")"));
  EXPECT_FALSE(accepts(R"({"type":"string"})", R"("\uDE00")"));
  const std::string any =
      R"({"anyOf":[{"type":"string"},{"type":"array","items":{"type":"integer"}}]})";
  EXPECT_TRUE(accepts(any, R"("s")"));
  EXPECT_TRUE(accepts(any, "[1,2]"));
  EXPECT_FALSE(accepts(any, "{}"));
  const std::string rec =
      R"({"type":"object","properties":{"n":{"$ref":"#"}},"additionalProperties":false})";
  EXPECT_TRUE(accepts(rec, R"({"n":{"n":{}}})"));
  EXPECT_FALSE(accepts(rec, R"({"n":1})"));
}

TEST(SchemaConstraint, BudgetClosesTheDocumentAndOverBudgetStillEnds) {
  auto v = small_vocab();
  Constrained s = setup(R"({"type":"object","properties":{"a":{"type":"string","minLength":4}},
                      "required":["a"],"additionalProperties":false})");
  // {"a":"xxxx"} is 12 bytes: with 12 tokens every walk ends complete.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    bool complete = false;
    auto ids = random_walk(v, s, 12, seed, &complete);
    EXPECT_TRUE(complete);
    expect_valid(s, decode(*v, ids));
  }
  // Below the shortest document there is no valid one; the constraint heads for the end by the
  // cheapest tokens and never reports the document complete.
  SchemaConstraint c(v, s.graph, s.doc, 3);
  for (int i = 0; i < 3; ++i) {
    auto a = c.allowed_tokens();
    ASSERT_FALSE(a.empty());
    c.accept(a.front());
  }
  EXPECT_FALSE(c.complete());
}

TEST(SchemaConstraint, ToolCallPrefixesPickTheParameters) {
  auto v = small_vocab();
  auto graph = std::make_shared<SchemaGraph>();
  SchemaDocument doc;
  doc.alternatives.push_back({"{\"name\": \"f\", \"parameters\": ",
                              graph->add(json::parse(R"({"type":"object","properties":{
                                  "a":{"type":"integer"}},"required":["a"],
                                  "additionalProperties":false})"))});
  doc.alternatives.push_back({"{\"name\": \"g\", \"parameters\": ",
                              graph->add(json::parse(R"({"type":"object","properties":{
                                  "b":{"type":"boolean"}},"required":["b"],
                                  "additionalProperties":false})"))});
  doc.suffix = "}";
  for (uint64_t seed = 0; seed < 30; ++seed) {
    SchemaConstraint c(v, graph, doc, 60);
    std::mt19937_64 rng(seed);
    std::vector<int32_t> ids;
    for (int i = 0; i < 60; ++i) {
      auto a = c.allowed_tokens();
      ASSERT_FALSE(a.empty());
      const int32_t t = a[rng() % a.size()];
      c.accept(t);
      ASSERT_FALSE(c.broken());
      ids.push_back(t);
      if (v->is_end(t)) break;
    }
    const json j = json::parse(decode(*v, ids));
    const std::string name = j.at("name");
    ASSERT_TRUE(name == "f" || name == "g");
    EXPECT_TRUE(graph->validate(doc.alternatives[name == "f" ? 0 : 1].node, j.at("parameters")));
  }
}

// tool_choice "auto" with a strict tool: a reply that begins like a call is held to it, any other
// reply is free text.
TEST(SchemaConstraint, OptionalDocumentIsFreeUnlessBegun) {
  auto v = small_vocab();
  auto graph = std::make_shared<SchemaGraph>();
  SchemaDocument doc;
  doc.alternatives.push_back({"{\"name\": \"f\", \"parameters\": ",
                              graph->add(json::parse(R"({"type":"object","properties":{
                                  "a":{"type":"integer"}},"required":["a"],
                                  "additionalProperties":false})"))});
  doc.suffix = "}";
  doc.optional = true;
  SchemaConstraint free_text(v, graph, doc, 60);
  auto first = free_text.allowed_tokens();
  EXPECT_TRUE(std::binary_search(first.begin(), first.end(), static_cast<int32_t>('H')));
  EXPECT_TRUE(std::binary_search(first.begin(), first.end(), static_cast<int32_t>('{')));
  EXPECT_TRUE(std::binary_search(first.begin(), first.end(), kEnd));
  EXPECT_FALSE(std::binary_search(first.begin(), first.end(), 329));  // "{}" begins neither
  free_text.accept('H');
  EXPECT_FALSE(free_text.broken());
  EXPECT_EQ(free_text.allowed_tokens().size(), static_cast<size_t>(v->size()));
  EXPECT_FALSE(free_text.complete());

  for (uint64_t seed = 0; seed < 10; ++seed) {
    SchemaConstraint call(v, graph, doc, 60);
    call.accept('{');
    std::mt19937_64 rng(seed);
    std::vector<int32_t> ids = {'{'};
    for (int i = 1; i < 60; ++i) {
      auto a = call.allowed_tokens();
      ASSERT_FALSE(a.empty());
      ASSERT_LT(a.size(), 200u);  // held to the call
      const int32_t t = a[rng() % a.size()];
      call.accept(t);
      ASSERT_FALSE(call.broken());
      ids.push_back(t);
      if (v->is_end(t)) break;
    }
    const json j = json::parse(decode(*v, ids));
    EXPECT_TRUE(graph->validate(doc.alternatives[0].node, j.at("parameters")));
  }
}

// The real Llama 3 vocabulary (128,256 tokens): walks stay valid, and the per-step mask time is
// printed (the decode-speed figure in the README comes from `hearth serve`, not from here).
TEST(SchemaConstraint, RealVocabularyRandomWalks) {
  Tokenizer tok = load_tokenizer(std::string(HEARTH_TEST_DATA) + "/devB");
  auto v = JsonVocab::from_tokenizer(tok, tok.eos_ids());
  double total_ms = 0, cpu_ms = 0;
  int steps = 0;
  for (size_t i = 0; i < written_schemas().size(); ++i) {
    Constrained s = setup(written_schemas()[i]);
    const int budget = 40;
    SchemaConstraint c(v, s.graph, s.doc, budget);
    std::mt19937_64 rng(i);
    std::vector<int32_t> ids;
    std::vector<float> logits(static_cast<size_t>(v->size()));
    while (static_cast<int>(ids.size()) < budget) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();  // CPU time: what a busy machine does not inflate
      c.apply(logits.data(), v->size());
      cpu_ms += 1000.0 * static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      total_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++steps;
      std::vector<int32_t> a;
      for (int32_t id = 0; id < v->size(); ++id)
        if (logits[static_cast<size_t>(id)] == 0.0f) a.push_back(id);
      std::fill(logits.begin(), logits.end(), 0.0f);
      ASSERT_FALSE(a.empty());
      const int32_t t = a[rng() % a.size()];
      c.accept(t);
      ASSERT_FALSE(c.broken());
      ids.push_back(t);
      if (v->is_end(t)) break;
    }
    EXPECT_TRUE(c.complete());
    const std::string text = tok.decode(ids, /*skip_special=*/true);
    expect_valid(s, text);
  }
  std::printf("mask per step over %d steps: %.3f ms CPU, %.3f ms wall\n", steps, cpu_ms / steps,
              total_ms / steps);
}

}  // namespace
}  // namespace hearth
