#include "server/service.h"

#include <algorithm>
#include <ctime>

#include "chat/llama31_template.h"
#include "chat/prompt_tokens.h"
#include "chat/special_tokens.h"
#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/ids.h"
#include "server/job_reply.h"
#include "server/openai_response.h"
#include "server/sse.h"
#include "util/error.h"

namespace hearth::server {
namespace {

constexpr int kCompletionsDefaultMaxTokens = 16;  // the legacy endpoint's documented default

// A tool call in the form the Llama 3.1 template asks for; the arguments object and the
// closing brace follow.
std::string tool_call_prefix(const std::string& name) {
  return "{\"name\": \"" + name + "\", \"parameters\": ";
}

// Streams one job through a formatter.
class JobStream : public JobSseStream {
 public:
  JobStream(std::shared_ptr<GenerationJob> job, std::unique_ptr<ResponseFormatter> fmt, Usage usage,
            bool include_usage, Metrics& metrics, std::chrono::steady_clock::time_point t0)
      : JobSseStream(std::move(job), metrics),
        fmt_(std::move(fmt)),
        usage_(usage),
        include_usage_(include_usage),
        t0_(t0) {}

  bool next(std::string& out, std::chrono::milliseconds timeout) override {
    if (ended_) return false;
    if (!opened_) {
      opened_ = true;
      for (auto& c : fmt_->stream_open()) out += sse_event(c);
    }
    for (auto& item : job_->wait(timeout)) {
      if (item.update.finished && !item.update.error.empty()) {
        // Headers are gone already: report the failure in the stream, as OpenAI does.
        out += sse_event(job_error(item.update).body());
        job_->cancel();
        ended_ = true;
        return false;
      }
      usage_.completion_tokens += item.update.completion_tokens;
      usage_.cached_tokens += item.update.cached_tokens;
      for (auto& c : fmt_->stream_update(item.choice, item.update)) out += sse_event(c);
    }
    if (job_->finished()) {
      if (include_usage_) out += sse_event(fmt_->stream_usage(usage_));
      out += kSseDone;
      record_finished(metrics_, usage_.prompt_tokens, usage_.completion_tokens, t0_);
      ended_ = true;
      return false;
    }
    return true;
  }

 private:
  std::unique_ptr<ResponseFormatter> fmt_;
  Usage usage_;
  bool include_usage_;
  std::chrono::steady_clock::time_point t0_;
  bool opened_ = false;
};

// A non-streamed response, built as the job's updates arrive so the HTTP layer can wait in
// slices and notice a client that hangs up.
class JobReply : public JobPendingReply {
 public:
  JobReply(std::shared_ptr<GenerationJob> job, std::unique_ptr<ResponseFormatter> fmt, Usage usage,
           Metrics& metrics, std::chrono::steady_clock::time_point t0)
      : JobPendingReply(std::move(job), usage, metrics, t0), fmt_(std::move(fmt)) {}

 private:
  void add(const GenerationJob::Item& item) override {
    usage_.completion_tokens += item.update.completion_tokens;
    usage_.cached_tokens += item.update.cached_tokens;
    fmt_->add(item.choice, item.update);
  }
  std::string error_body(const ApiError& e) override { return to_wire(e.body()); }
  std::string response_body() override { return to_wire(fmt_->response(usage_)); }

  std::unique_ptr<ResponseFormatter> fmt_;
};

}  // namespace

OpenAiService::OpenAiService(Scheduler& sched, const Tokenizer& tok, Metrics& metrics,
                             ServiceConfig cfg)
    : sched_(sched), tok_(tok), metrics_(metrics), cfg_(std::move(cfg)) {
  if (cfg_.created == 0) cfg_.created = static_cast<int64_t>(std::time(nullptr));
  python_tag_ = tok_.special_id(llama31::kPythonTag).value_or(-1);
  eom_ = tok_.special_id(llama31::kEom).value_or(-1);
}

std::shared_ptr<const JsonVocab> OpenAiService::json_vocab() {
  std::call_once(json_once_, [&] { json_vocab_ = JsonVocab::from_tokenizer(tok_, cfg_.end_ids); });
  return json_vocab_;
}

void OpenAiService::check_model(const std::string& id) const {
  const auto& names = cfg_.aliases;
  if (id != cfg_.model_id && std::find(names.begin(), names.end(), id) == names.end())
    throw ApiError(404,
                   "The model `" + id +
                       "` does not exist or you do not have access to it. This "
                       "server serves `" +
                       cfg_.model_id + "`.",
                   "invalid_request_error", "model", "model_not_found");
}

std::string OpenAiService::models() const {
  ojson list;
  list["object"] = "list";
  list["data"] = ojson::array({ojson::parse(model(cfg_.model_id))});
  for (auto& alias : cfg_.aliases) list["data"].push_back(ojson::parse(model(alias)));
  return to_wire(list);
}

std::string OpenAiService::model(const std::string& id) const {
  check_model(id);
  ojson m;
  m["id"] = id;
  m["object"] = "model";
  m["created"] = cfg_.created;
  m["owned_by"] = "hearth";
  return to_wire(m);
}

std::vector<int32_t> OpenAiService::chat_prompt(const ChatRequest& r) const {
  ChatTemplateOptions opts;
  // tool_choice "none": the model is not told about the tools at all.
  if (r.tool_choice != ToolChoice::kNone) opts.tools = r.tools;
  RenderedChat prompt;
  try {
    prompt = render_llama31_chat_marked(r.messages, opts);
  } catch (const Error& e) {
    throw invalid_request(e.what(), "messages");
  }
  // The template writes <|begin_of_text|> itself.
  return encode_chat_prompt(
      tok_, prompt,
      cfg_.parse_special_in_messages ? MessageSpecials::kParse : MessageSpecials::kPlainText);
}

int OpenAiService::budget(int prompt_len, const std::optional<int>& max_tokens, int default_max,
                          const char* what) const {
  const int ctx = cfg_.context;
  if (prompt_len >= ctx || (max_tokens && static_cast<int64_t>(prompt_len) + *max_tokens > ctx)) {
    std::string msg = "This model's maximum context length is " + std::to_string(ctx) +
                      " tokens. However, you requested " +
                      std::to_string(static_cast<int64_t>(prompt_len) + max_tokens.value_or(0)) +
                      " tokens (" + std::to_string(prompt_len) + " in the " + what;
    msg += max_tokens ? ", " + std::to_string(*max_tokens) + " in the completion)." : ").";
    msg += " Please reduce the length of the " + std::string(what) + " or completion.";
    throw invalid_request(msg, max_tokens && prompt_len < ctx ? "max_tokens" : what,
                          "context_length_exceeded");
  }
  return max_tokens ? *max_tokens : std::min(default_max, ctx - prompt_len);
}

GenerationParams OpenAiService::base_params(const SamplingFields& s, int max_tokens, int choice,
                                            uint64_t seed) const {
  GenerationParams p;
  p.sampling = s.sampling;
  p.sampling.seed = seed + static_cast<uint64_t>(choice);  // n choices must differ
  p.presence_penalty = s.presence_penalty;
  p.frequency_penalty = s.frequency_penalty;
  p.repetition_penalty = s.repetition_penalty;
  p.logit_bias = s.logit_bias;
  p.max_tokens = max_tokens;
  p.stop_tokens = cfg_.end_ids;
  return p;
}

Reply OpenAiService::chat_completions(const std::string& body, Clock::time_point t0) {
  ChatRequest r = parse_chat_request(parse_json_body(body, cfg_.max_json_depth), cfg_.vocab_size);
  check_model(r.model);
  if (draining_) throw shutting_down();
  std::vector<int32_t> prompt = chat_prompt(r);
  const int P = static_cast<int>(prompt.size());
  const int max_tokens = budget(P, r.s.max_tokens, cfg_.context, "messages");
  const uint64_t seed = r.s.seed.value_or(random_seed());

  std::vector<ChoiceSpec> specs;
  for (int i = 0; i < r.s.n; ++i) specs.push_back(chat_choice(r, prompt, max_tokens, i, seed));

  auto job = start_job(std::move(specs), t0, "messages");
  auto fmt = make_chat_formatter(tok_, header("chatcmpl-", r.s), {r.s.n, r.logprobs});
  return reply(std::move(job), std::move(fmt), Usage{P, 0}, r.s, t0);
}

ChoiceSpec OpenAiService::chat_choice(const ChatRequest& r, const std::vector<int32_t>& prompt,
                                      int max_tokens, int i, uint64_t seed) {
  const bool forced = r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed;
  ChoiceSpec c;
  c.prompt = prompt;
  c.params = base_params(r.s, max_tokens, i, seed);
  if (r.logprobs) c.params.top_logprobs = r.top_logprobs;
  if (r.structured.has_response_schema()) {
    c.params.constraint = response_schema_constraint(r.structured, json_vocab(), max_tokens);
  } else if (r.tool_choice != ToolChoice::kNone && r.structured.any_strict_tool() &&
             !r.json_object) {
    std::vector<std::pair<std::string, size_t>> calls;
    for (size_t t = 0; t < r.tool_names.size(); ++t)
      if (r.tool_choice != ToolChoice::kNamed || r.tool_names[t] == r.tool_name)
        calls.push_back({tool_call_prefix(r.tool_names[t]), t});
    c.params.constraint =
        tool_call_schema_constraint(r.structured, calls, json_vocab(), max_tokens, !forced);
  } else if (r.json_object || forced) {
    JsonConstraintOptions jo;
    jo.max_tokens = max_tokens;
    if (forced) {
      if (r.tool_choice == ToolChoice::kNamed)
        jo.prefixes.push_back(tool_call_prefix(r.tool_name));
      else
        for (auto& name : r.tool_names) jo.prefixes.push_back(tool_call_prefix(name));
      jo.suffix = "}";
    }
    c.params.constraint = std::make_shared<JsonConstraint>(json_vocab(), std::move(jo));
  }
  c.setup.stop = r.s.stop;
  c.setup.end_ids = cfg_.end_ids;
  // A reply held to the response schema is content, even if it looks like a tool call.
  c.setup.parse_tool_calls =
      r.tool_choice != ToolChoice::kNone && !r.structured.has_response_schema();
  c.setup.force_tool_call = forced;
  c.setup.python_tag = python_tag_;
  c.setup.eom = eom_;
  c.setup.logprobs = r.logprobs;
  c.setup.reports_cached_tokens = i == 0;  // the prompt is shared by the request's n choices
  return c;
}

Reply OpenAiService::completions(const std::string& body, Clock::time_point t0) {
  CompletionRequest r =
      parse_completion_request(parse_json_body(body, cfg_.max_json_depth), cfg_.vocab_size);
  check_model(r.model);
  if (draining_) throw shutting_down();
  const uint64_t seed = r.s.seed.value_or(random_seed());
  std::vector<ChoiceSpec> specs;
  CompletionFormat cf;
  cf.logprobs = r.logprobs;
  Usage usage;
  for (auto& p : r.prompts) {
    std::vector<int32_t> tokens = p.tokens;
    std::string echo;
    size_t added_bos = 0;  // the BOS we put in front is not part of the echoed text
    if (!p.is_tokens) {
      const std::string bos = tok_.bos_id() >= 0 ? tok_.token_bytes(tok_.bos_id()) : "";
      const bool has_bos = !bos.empty() && p.text.compare(0, bos.size(), bos) == 0;
      const bool add = tok_.add_bos_default() && !has_bos && tok_.bos_id() >= 0;
      tokens = tok_.encode(p.text, add, /*parse_special=*/true);
      added_bos = add ? 1 : 0;
      echo = p.text;
    } else {
      echo = tok_.decode(tokens);
    }
    if (tokens.empty())
      throw invalid_request("Invalid 'prompt': it encodes to no tokens.", "prompt",
                            "invalid_value");
    const int P = static_cast<int>(tokens.size());
    usage.prompt_tokens += P;
    const int max_tokens = budget(P, r.s.max_tokens, kCompletionsDefaultMaxTokens, "prompt");
    for (int i = 0; i < r.s.n; ++i) {
      ChoiceSpec c;
      c.prompt = tokens;
      c.params = base_params(r.s, max_tokens, static_cast<int>(specs.size()), seed);
      if (r.logprobs >= 0) c.params.top_logprobs = r.logprobs;
      c.setup.stop = r.s.stop;
      c.setup.end_ids = cfg_.end_ids;
      c.setup.logprobs = r.logprobs >= 0;
      c.setup.reports_cached_tokens = i == 0;
      cf.echo_text.push_back(r.echo ? echo : "");
      cf.echo_tokens.push_back(
          r.echo ? std::vector<int32_t>(
                       tokens.begin() + static_cast<long>(std::min(added_bos, tokens.size())),
                       tokens.end())
                 : std::vector<int32_t>{});
      specs.push_back(std::move(c));
    }
  }
  cf.n_choices = static_cast<int>(specs.size());

  auto job = start_job(std::move(specs), t0, "prompt");
  auto fmt = make_completion_formatter(tok_, header("cmpl-", r.s), std::move(cf));
  return reply(std::move(job), std::move(fmt), usage, r.s, t0);
}

std::shared_ptr<GenerationJob> OpenAiService::start_job(std::vector<ChoiceSpec> specs,
                                                        Clock::time_point t0, const char* param) {
  auto job = std::make_shared<GenerationJob>(sched_, tok_, metrics_, t0);
  try {
    job->start(std::move(specs));
  } catch (const QueueFullError& e) {
    if (draining_) throw shutting_down();
    throw ApiError(429, std::string("the server is busy: ") + e.what(), "rate_limit_error", "",
                   "queue_full");
  } catch (const Error& e) {
    throw invalid_request(e.what(), param);
  }
  return job;
}

ResponseHeader OpenAiService::header(const char* id_prefix, const SamplingFields& s) const {
  ResponseHeader h;
  h.id = random_id(id_prefix);
  h.created = static_cast<int64_t>(std::time(nullptr));
  h.model = cfg_.model_id;
  h.include_usage_field = s.stream && s.include_usage;
  return h;
}

Reply OpenAiService::reply(std::shared_ptr<GenerationJob> job,
                           std::unique_ptr<ResponseFormatter> fmt, Usage usage,
                           const SamplingFields& s, Clock::time_point t0) {
  Reply out;
  if (s.stream)
    out.sse = std::make_shared<JobStream>(std::move(job), std::move(fmt), usage, s.include_usage,
                                          metrics_, t0);
  else
    out.pending = std::make_shared<JobReply>(std::move(job), std::move(fmt), usage, metrics_, t0);
  return out;
}

}  // namespace hearth::server
