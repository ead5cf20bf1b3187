// `hearth run` and the server generate through one per-sequence update (runtime/generation.h):
// the same seeded request with sampling, penalties and a logit bias gives the same tokens from
// the command line as from the OpenAI endpoint (served in-process over a real socket).
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/service.h"
#include "support/run_command.h"
#include "tokenizer/load.h"

namespace hearth {
namespace {

using namespace hearth::testing;
const std::string kDevB = std::string(HEARTH_TEST_DATA) + "/devB";

// The server as `hearth serve` assembles it, on a free port.
struct Server {
  Server()
      : tok(load_tokenizer(kDevB)),
        engine(kDevB, engine_opts()),
        sched(engine.model(), engine.cache(), engine.context()),
        svc(sched, tok, metrics, config()),
        http(svc, sched, metrics, http_opts()) {
    port = http.bind();
    thread = std::thread([this] { http.serve(); });
  }
  ~Server() {
    http.stop();
    thread.join();
  }
  static EngineOptions engine_opts() {
    EngineOptions o;
    o.threads = 2;
    o.context = 512;
    return o;
  }
  server::ServiceConfig config() {
    server::ServiceConfig c;
    c.model_id = "devB";
    c.context = engine.context();
    c.vocab_size = engine.config().vocab_size;
    c.end_ids = end_of_sequence_ids(engine.config(), &tok);
    return c;
  }
  static server::HttpOptions http_opts() {
    server::HttpOptions o;
    o.port = 0;
    o.threads = 2;
    return o;
  }
  nlohmann::json complete(const nlohmann::json& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    auto res = c.Post("/v1/completions", body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return nullptr;
    EXPECT_EQ(res->status, 200) << res->body;
    return nlohmann::json::parse(res->body);
  }

  Tokenizer tok;
  Engine engine;
  server::Metrics metrics;
  Scheduler sched;
  server::OpenAiService svc;
  server::HttpServer http;
  int port = 0;
  std::thread thread;
};

const std::vector<int32_t> kPrompt = {128000, 791, 4062, 14198, 39935, 35308, 927, 279};
// The end-of-sequence tokens banned, so both run to max_tokens; one token pushed up.
const std::string kBiasFlag = "128001=-100,128008=-100,128009=-100,1820=3.5";
const nlohmann::json kBiasField = {
    {"128001", -100}, {"128008", -100}, {"128009", -100}, {"1820", 3.5}};

struct Outcome {
  std::string text;
  int tokens = 0;
  std::string finish;
};

Outcome cli(const std::string& flags) {
  auto r = run_command(
      hearth_cmd("run " + kDevB + " --tokens " + join_ids(kPrompt) + " -n 24 --json " + flags));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  return {j["text"], static_cast<int>(j["tokens"].size()), j["finish_reason"]};
}

Outcome server(Server& s, const nlohmann::json& fields) {
  nlohmann::json body = {{"model", "devB"}, {"prompt", kPrompt}, {"max_tokens", 24}};
  for (auto& [k, v] : fields.items()) body[k] = v;
  auto j = s.complete(body);
  return {j["choices"][0]["text"], j["usage"]["completion_tokens"],
          j["choices"][0]["finish_reason"]};
}

TEST(RunMatchesServer, SeededSamplingWithPenaltiesAndLogitBias) {
  Server s;
  const Outcome c =
      cli("--temp 0.9 --top-k 0 --top-p 0.95 --min-p 0 --seed 7 --presence-penalty 0.5 "
          "--frequency-penalty 0.7 --repeat-penalty 1.3 --logit-bias " +
          kBiasFlag);
  const Outcome v = server(s, {{"temperature", 0.9},
                               {"top_p", 0.95},
                               {"seed", 7},
                               {"presence_penalty", 0.5},
                               {"frequency_penalty", 0.7},
                               {"repeat_penalty", 1.3},
                               {"logit_bias", kBiasField}});
  EXPECT_EQ(c.tokens, 24);
  EXPECT_EQ(v.tokens, 24);
  EXPECT_EQ(c.finish, "length");
  EXPECT_EQ(v.finish, "length");
  EXPECT_EQ(c.text, v.text);
  EXPECT_FALSE(c.text.empty());

  // The edits matter: without them the same seed gives other text, on both sides alike.
  const Outcome plain_c = cli("--temp 0.9 --top-k 0 --top-p 0.95 --min-p 0 --seed 7");
  const Outcome plain_v = server(s, {{"temperature", 0.9}, {"top_p", 0.95}, {"seed", 7}});
  EXPECT_EQ(plain_c.text, plain_v.text);
  EXPECT_NE(plain_c.text, c.text);
}

TEST(RunMatchesServer, GreedyThroughTheArgmaxPath) {
  Server s;
  const Outcome c = cli("--temp 0");
  const Outcome v = server(s, {{"temperature", 0}});
  EXPECT_EQ(c.text, v.text);
  EXPECT_EQ(c.tokens + (c.finish == "stop" ? 1 : 0), v.tokens);  // the server counts the EOS
  EXPECT_EQ(c.finish, v.finish);
}

}  // namespace
}  // namespace hearth
