#pragma once
// Structured outputs in chat requests: response_format {"type": "json_schema"} and function
// tools with "strict": true, compiled at parse time so that a schema the constraint cannot
// enforce is a 400 naming the keyword, never a reply that ignores it.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/json_schema.h"
#include "runtime/json_vocab.h"
#include "runtime/request.h"

namespace hearth::server {

struct StructuredOutput {
  std::shared_ptr<SchemaGraph> graph;  // null when nothing is schema-constrained
  int32_t response_root = -1;          // response_format json_schema
  std::vector<int32_t> tool_roots;     // per tool: its parameters (-1 until a tool is strict)
  std::vector<bool> tool_strict;
  int32_t any_object = -1;  // what a non-strict tool's arguments may be beside a strict one

  bool has_response_schema() const { return response_root >= 0; }
  bool any_strict_tool() const;
};

// response_format {"type": "json_schema", "json_schema": {"name", "schema", "strict",
// "description"}}: checks the object and compiles the schema (ApiError 400 otherwise).
void parse_json_schema_format(const nlohmann::ordered_json& rf, StructuredOutput& out);
// tools[i].function: compiles "parameters" when "strict" is true. Call once per tool, in order.
void parse_tool_strictness(const nlohmann::ordered_json& fn, size_t i, StructuredOutput& out);

// The constraint for a reply in the response schema.
std::shared_ptr<LogitsConstraint> response_schema_constraint(const StructuredOutput& so,
                                                             std::shared_ptr<const JsonVocab> vocab,
                                                             int max_tokens);
// The constraint for a tool call: one of `calls` (the call's literal prefix, the tool's index),
// then its parameters, then "}". Non-strict tools take any object. `optional` (tool_choice
// "auto"): a reply that does not begin like a call is free text.
std::shared_ptr<LogitsConstraint> tool_call_schema_constraint(
    const StructuredOutput& so, const std::vector<std::pair<std::string, size_t>>& calls,
    std::shared_ptr<const JsonVocab> vocab, int max_tokens, bool optional);

}  // namespace hearth::server
