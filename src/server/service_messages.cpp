// POST /v1/messages: Anthropic's Messages API over the same chat pipeline as chat completions.
#include "server/anthropic_request.h"
#include "server/anthropic_response.h"
#include "server/event_reply.h"
#include "server/ids.h"
#include "server/service.h"

namespace hearth::server {

Reply OpenAiService::messages(const std::string& body, Clock::time_point t0) {
  ChatRequest r = parse_anthropic_request(parse_json_body(body));
  check_model(r.model);
  if (draining_) throw shutting_down();
  std::vector<int32_t> prompt = chat_prompt(r);
  const int P = static_cast<int>(prompt.size());
  const int max_tokens = budget(P, r.s.max_tokens, cfg_.context, "messages");
  std::vector<ChoiceSpec> specs;
  specs.push_back(chat_choice(r, prompt, max_tokens, 0, random_seed()));
  auto job = start_job(std::move(specs), t0, "messages");
  auto fmt = make_anthropic_formatter({random_id("msg_"), cfg_.model_id, P});
  return event_reply(std::move(job), std::move(fmt), Usage{P, 0}, r.s.stream, metrics_, t0);
}

}  // namespace hearth::server
