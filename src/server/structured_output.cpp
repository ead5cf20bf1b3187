#include "server/structured_output.h"

#include "runtime/schema_constraint.h"
#include "server/api_error.h"

namespace hearth::server {

using ojson = nlohmann::ordered_json;

namespace {

const char* type_name(const ojson& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  if (v.is_number()) return "a number";
  return "null";
}

ApiError wrong_type(const std::string& name, const char* expected, const ojson& got) {
  return invalid_request("Invalid type for '" + name + "': expected " + expected + ", but got " +
                             type_name(got) + " instead.",
                         name, "invalid_type");
}

const ojson* field(const ojson& o, const char* name) {
  auto it = o.find(name);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::shared_ptr<SchemaGraph>& graph(StructuredOutput& out) {
  if (!out.graph) out.graph = std::make_shared<SchemaGraph>();
  return out.graph;
}

int32_t compile(StructuredOutput& out, const ojson& schema, const std::string& what,
                const std::string& param) {
  try {
    return graph(out)->add(schema);
  } catch (const SchemaError& e) {
    std::string msg = "Invalid schema for ";
    msg.append(what).append(": ").append(e.what()).append(".");
    throw invalid_request(msg, param, "invalid_json_schema");
  }
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '-') return false;
  return true;
}

}  // namespace

bool StructuredOutput::any_strict_tool() const {
  for (bool s : tool_strict)
    if (s) return true;
  return false;
}

void parse_json_schema_format(const ojson& rf, StructuredOutput& out) {
  const ojson* js = field(rf, "json_schema");
  if (!js)
    throw invalid_request("Missing required parameter: 'response_format.json_schema'.",
                          "response_format.json_schema", "missing_required_parameter");
  if (!js->is_object()) throw wrong_type("response_format.json_schema", "an object", *js);
  const ojson* name = field(*js, "name");
  if (!name)
    throw invalid_request("Missing required parameter: 'response_format.json_schema.name'.",
                          "response_format.json_schema.name", "missing_required_parameter");
  if (!name->is_string()) throw wrong_type("response_format.json_schema.name", "a string", *name);
  if (!valid_name(name->get<std::string>()))
    throw invalid_request(
        "Invalid 'response_format.json_schema.name': expected a string matching "
        "^[a-zA-Z0-9_-]{1,64}$.",
        "response_format.json_schema.name", "invalid_value");
  if (const ojson* strict = field(*js, "strict"); strict && !strict->is_boolean())
    throw wrong_type("response_format.json_schema.strict", "a boolean", *strict);
  if (const ojson* d = field(*js, "description"); d && !d->is_string())
    throw wrong_type("response_format.json_schema.description", "a string", *d);
  // Strict or not, the schema is enforced: a reply that only might match it helps nobody.
  const ojson* schema = field(*js, "schema");
  if (schema && !schema->is_object())
    throw wrong_type("response_format.json_schema.schema", "an object", *schema);
  out.response_root = compile(out, schema ? *schema : ojson::object(),
                              "response_format '" + name->get<std::string>() + "'",
                              "response_format.json_schema.schema");
}

void parse_tool_strictness(const ojson& fn, size_t i, StructuredOutput& out) {
  const std::string w = "tools[" + std::to_string(i) + "].function";
  bool strict = false;
  if (const ojson* s = field(fn, "strict")) {
    if (!s->is_boolean()) throw wrong_type(w + ".strict", "a boolean", *s);
    strict = s->get<bool>();
  }
  out.tool_strict.resize(i + 1, false);
  out.tool_roots.resize(i + 1, -1);
  out.tool_strict[i] = strict;
  if (!strict) return;
  if (out.any_object < 0) out.any_object = graph(out)->add(ojson{{"type", "object"}});
  const ojson* params = field(fn, "parameters");
  // No parameters: the function takes none, so its arguments are the empty object.
  const ojson none = {
      {"type", "object"}, {"properties", ojson::object()}, {"additionalProperties", false}};
  const std::string name = fn.value("name", std::string());
  out.tool_roots[i] =
      compile(out, params ? *params : none, "function '" + name + "'", w + ".parameters");
  const SchemaNode& root = out.graph->node(out.graph->resolve(out.tool_roots[i]));
  if (root.kind != SchemaNode::Kind::kObject)
    throw invalid_request("Invalid schema for function '" + name +
                              "': the parameters must be an object schema (\"type\": "
                              "\"object\").",
                          w + ".parameters", "invalid_json_schema");
}

std::shared_ptr<LogitsConstraint> response_schema_constraint(const StructuredOutput& so,
                                                             std::shared_ptr<const JsonVocab> vocab,
                                                             int max_tokens) {
  SchemaDocument doc;
  doc.alternatives.push_back({"", so.response_root});
  return std::make_shared<SchemaConstraint>(std::move(vocab), so.graph, std::move(doc), max_tokens);
}

std::shared_ptr<LogitsConstraint> tool_call_schema_constraint(
    const StructuredOutput& so, const std::vector<std::pair<std::string, size_t>>& calls,
    std::shared_ptr<const JsonVocab> vocab, int max_tokens, bool optional) {
  SchemaDocument doc;
  doc.optional = optional;
  for (auto& [prefix, i] : calls) {
    int32_t node = i < so.tool_roots.size() ? so.tool_roots[i] : -1;
    if (node < 0) node = so.any_object;
    doc.alternatives.push_back({prefix, node});
  }
  doc.suffix.push_back('}');
  return std::make_shared<SchemaConstraint>(std::move(vocab), so.graph, std::move(doc), max_tokens);
}

}  // namespace hearth::server
