// POST /v1/responses: OpenAI's Responses API, stateless, over the same chat pipeline as chat
// completions.
#include <ctime>

#include "server/event_reply.h"
#include "server/ids.h"
#include "server/responses_request.h"
#include "server/responses_response.h"
#include "server/service.h"

namespace hearth::server {

Reply OpenAiService::responses(const std::string& body, Clock::time_point t0) {
  ResponsesRequest r = parse_responses_request(parse_json_body(body));
  check_model(r.chat.model);
  if (draining_) throw shutting_down();
  std::vector<int32_t> prompt = chat_prompt(r.chat);
  const int P = static_cast<int>(prompt.size());
  const int max_tokens = budget(P, r.chat.s.max_tokens, cfg_.context, "input");
  std::vector<ChoiceSpec> specs;
  specs.push_back(
      chat_choice(r.chat, prompt, max_tokens, 0, r.chat.s.seed.value_or(random_seed())));
  auto job = start_job(std::move(specs), t0, "input");
  auto fmt = make_responses_formatter(
      {random_id("resp_"), static_cast<int64_t>(std::time(nullptr)), cfg_.model_id}, r);
  return event_reply(std::move(job), std::move(fmt), Usage{P, 0}, r.chat.s.stream, metrics_, t0);
}

}  // namespace hearth::server
