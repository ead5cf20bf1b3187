#include "server/responses_response.h"

#include "server/ids.h"
#include "server/sse.h"

namespace hearth::server {
namespace {

ojson output_text(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", ojson::array()}};
}

ojson message_item(const std::string& id, const char* status, ojson content) {
  ojson m;
  m["id"] = id;
  m["type"] = "message";
  m["status"] = status;
  m["role"] = "assistant";
  m["content"] = std::move(content);
  return m;
}

ojson function_call_item(const std::string& id, const std::string& call_id, const std::string& name,
                         const std::string& arguments, const char* status) {
  ojson f;
  f["id"] = id;
  f["type"] = "function_call";
  f["status"] = status;
  f["arguments"] = arguments;
  f["call_id"] = call_id;
  f["name"] = name;
  return f;
}

class ResponsesFormatter : public EventFormatter {
 public:
  ResponsesFormatter(ResponsesHeader h, const ResponsesRequest& r) : h_(std::move(h)) {
    echo_["instructions"] = r.instructions;
    echo_["max_output_tokens"] = r.max_output_tokens ? ojson(*r.max_output_tokens) : ojson(nullptr);
    echo_["parallel_tool_calls"] = r.parallel_tool_calls;
    echo_["temperature"] = r.temperature;
    echo_["tool_choice"] = r.tool_choice;
    echo_["tools"] = r.tools;
    echo_["top_p"] = r.top_p;
    echo_["metadata"] = r.metadata;
    echo_["text"] = {{"format", {{"type", r.chat.json_object ? "json_object" : "text"}}}};
  }

  std::string stream_open() override {
    ojson resp = response_object("in_progress", ojson::array(), nullptr);
    std::string out = event("response.created", {{"response", resp}});
    out += event("response.in_progress", {{"response", resp}});
    return out;
  }

  std::string stream_update(const ChoiceUpdate& u) override {
    std::string out;
    if (!u.text.empty()) {
      if (!message_open_) {
        message_open_ = true;
        message_index_ = static_cast<int>(output_.size());
        output_.push_back(nullptr);  // its place; filled when done
        out += event("response.output_item.added",
                     {{"output_index", message_index_},
                      {"item", message_item(message_id_, "in_progress", ojson::array())}});
        out += event("response.content_part.added", {{"item_id", message_id_},
                                                     {"output_index", message_index_},
                                                     {"content_index", 0},
                                                     {"part", output_text("")}});
      }
      text_ += u.text;
      out += event("response.output_text.delta", {{"item_id", message_id_},
                                                  {"output_index", message_index_},
                                                  {"content_index", 0},
                                                  {"delta", u.text},
                                                  {"logprobs", ojson::array()}});
    }
    if (!u.finished) return out;
    finish(u);
    if (message_open_) {
      const ojson& item = output_[static_cast<size_t>(message_index_)];
      out += event("response.output_text.done", {{"item_id", message_id_},
                                                 {"output_index", message_index_},
                                                 {"content_index", 0},
                                                 {"text", text_},
                                                 {"logprobs", ojson::array()}});
      out += event("response.content_part.done", {{"item_id", message_id_},
                                                  {"output_index", message_index_},
                                                  {"content_index", 0},
                                                  {"part", output_text(text_)}});
      out += event("response.output_item.done", {{"output_index", message_index_}, {"item", item}});
    }
    for (size_t i = 0; i < output_.size(); ++i) {
      const ojson& item = output_[i];
      if (item["type"] != "function_call") continue;
      const int index = static_cast<int>(i);
      const std::string id = item["id"];
      ojson started = item;
      started["status"] = "in_progress";
      started["arguments"] = "";
      out += event("response.output_item.added", {{"output_index", index}, {"item", started}});
      out += event("response.function_call_arguments.delta",
                   {{"item_id", id}, {"output_index", index}, {"delta", item["arguments"]}});
      out += event("response.function_call_arguments.done", {{"item_id", id},
                                                             {"output_index", index},
                                                             {"name", item["name"]},
                                                             {"arguments", item["arguments"]}});
      out += event("response.output_item.done", {{"output_index", index}, {"item", item}});
    }
    return out;
  }

  std::string stream_close(const Usage& u) override {
    const ojson resp = final_response(u);
    const std::string name =
        resp["status"] == "incomplete" ? "response.incomplete" : "response.completed";
    return event(name, {{"response", resp}});
  }

  std::string error_event(const ApiError& e) override {
    std::string out = event("error", {{"code", e.code().empty() ? e.type() : e.code()},
                                      {"message", e.what()},
                                      {"param", nullptr}});
    ojson resp = response_object("failed", output_json(), nullptr);
    resp["error"] = {{"code", "server_error"}, {"message", e.what()}};
    return out + event("response.failed", {{"response", resp}});
  }

  void add(const ChoiceUpdate& u) override {
    if (!u.text.empty() && !message_open_) {
      message_open_ = true;
      message_index_ = static_cast<int>(output_.size());
      output_.push_back(nullptr);
    }
    text_ += u.text;
    if (u.finished) finish(u);
  }

  ojson response(const Usage& u) override { return final_response(u); }

  ojson error_body(const ApiError& e) override { return e.body(); }

 private:
  // Fills the output items once the choice has ended.
  void finish(const ChoiceUpdate& u) {
    incomplete_ = u.finish_reason == "length";
    const char* status = incomplete_ ? "incomplete" : "completed";
    if (message_open_)
      output_[static_cast<size_t>(message_index_)] =
          message_item(message_id_, status, ojson::array({output_text(text_)}));
    for (const ToolCall& call : u.tool_calls)
      output_.push_back(function_call_item(random_id("fc_"), random_id("call_"), call.name,
                                           to_wire(call.arguments), "completed"));
  }

  ojson output_json() const {
    ojson out = ojson::array();
    for (auto& item : output_)
      if (!item.is_null()) out.push_back(item);
    return out;
  }

  ojson final_response(const Usage& u) const {
    ojson usage;
    usage["input_tokens"] = u.prompt_tokens;
    usage["input_tokens_details"] = {{"cached_tokens", u.cached_tokens}};
    usage["output_tokens"] = u.completion_tokens;
    usage["output_tokens_details"] = {{"reasoning_tokens", 0}};
    usage["total_tokens"] = u.prompt_tokens + u.completion_tokens;
    ojson resp =
        response_object(incomplete_ ? "incomplete" : "completed", output_json(), std::move(usage));
    if (incomplete_) resp["incomplete_details"] = {{"reason", "max_output_tokens"}};
    return resp;
  }

  ojson response_object(const char* status, ojson output, ojson usage) const {
    ojson r;
    r["id"] = h_.id;
    r["object"] = "response";
    r["created_at"] = h_.created_at;
    r["status"] = status;
    r["error"] = nullptr;
    r["incomplete_details"] = nullptr;
    r["instructions"] = echo_["instructions"];
    r["max_output_tokens"] = echo_["max_output_tokens"];
    r["model"] = h_.model;
    r["output"] = std::move(output);
    r["parallel_tool_calls"] = echo_["parallel_tool_calls"];
    r["previous_response_id"] = nullptr;
    r["reasoning"] = {{"effort", nullptr}, {"summary", nullptr}};
    r["store"] = false;  // nothing is ever stored
    r["temperature"] = echo_["temperature"];
    r["text"] = echo_["text"];
    r["tool_choice"] = echo_["tool_choice"];
    r["tools"] = echo_["tools"];
    r["top_p"] = echo_["top_p"];
    r["truncation"] = "disabled";
    r["usage"] = std::move(usage);
    r["metadata"] = echo_["metadata"];
    return r;
  }

  std::string event(const std::string& type, ojson fields) {
    ojson e;
    e["type"] = type;
    for (auto it = fields.begin(); it != fields.end(); ++it) e[it.key()] = it.value();
    e["sequence_number"] = sequence_++;
    return sse_named(type, e);
  }

  ResponsesHeader h_;
  ojson echo_;
  std::string message_id_ = random_id("msg_");
  bool message_open_ = false;
  int message_index_ = -1;
  std::string text_;
  ojson output_ = ojson::array();
  bool incomplete_ = false;
  int sequence_ = 0;
};

}  // namespace

std::unique_ptr<EventFormatter> make_responses_formatter(ResponsesHeader h,
                                                         const ResponsesRequest& r) {
  return std::make_unique<ResponsesFormatter>(std::move(h), r);
}

}  // namespace hearth::server
