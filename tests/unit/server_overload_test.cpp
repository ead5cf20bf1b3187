// Overload and hostile-request limits: the bounded queue (429 with Retry-After), the queue
// timeout (503 with Retry-After, as its own status, not inside a 200), header size (431), body
// size (413), bodies without a length (411) and JSON nesting depth (400), each as an OpenAI error
// object, while the request already accepted keeps running to its end. The scheduler is stalled on
// purpose (a callback that blocks its thread), so that "queued" is a state the test controls, not a
// race.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "server/api_error.h"
#include "server/http_server.h"
#include "server/json_limits.h"
#include "server/openai_request.h"
#include "server/service.h"
#include "support/raw_http.h"
#include "tokenizer/load.h"

namespace hearth::server {
namespace {

using namespace std::chrono_literals;
const std::string kData = HEARTH_TEST_DATA;

TEST(JsonLimits, NestingDepthCountsBracketsOutsideStrings) {
  EXPECT_EQ(json_nesting_depth("1", 10), 0);
  EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": []}]})", 10), 4);
  EXPECT_EQ(json_nesting_depth(R"({"a": "[[[[[{{{{"})", 10), 1);
  EXPECT_EQ(json_nesting_depth(R"({"a": "\"[[[["})", 10), 1);
  EXPECT_EQ(json_nesting_depth("]]]][", 10), 1);  // stray closers do not go below zero
  EXPECT_EQ(json_nesting_depth(std::string(10000, '['), 64), 65);  // stops early
}

TEST(JsonLimits, ParseJsonBodyRefusesDeepNesting) {
  const std::string ok = "{\"a\":" + std::string(127, '[') + std::string(127, ']') + "}";
  EXPECT_NO_THROW(parse_json_body(ok));
  const std::string deep = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  try {
    parse_json_body(deep);
    FAIL() << "accepted 10,000 levels";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "json_too_deep");
    EXPECT_NE(std::string(e.what()).find("128"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_json_body(R"({"a": [[[]]]})", 3), ApiError);
  EXPECT_NO_THROW(parse_json_body(R"({"a": [[]]})", 3));
}

// A sequence whose first token blocks the scheduler thread until release() is called.
class Staller {
 public:
  void submit(Scheduler& s) {
    GenerationParams p;
    p.sampling.temperature = 0;
    p.max_tokens = 3;
    s.submit({1, 2, 3}, p, [this](const TokenEvent& ev) {
      if (ev.token >= 0 && !stalled_) {
        stalled_ = true;
        entered_.set_value();
        released_.wait();
      }
      if (ev.finish != FinishReason::None) finished_.set_value(ev.finish);
      return true;
    });
    entered_future_.wait();
  }
  void release() { release_.set_value(); }
  FinishReason finish() { return finished_future_.get(); }

 private:
  bool stalled_ = false;
  std::promise<void> entered_, release_;
  std::future<void> entered_future_ = entered_.get_future();
  std::shared_future<void> released_ = release_.get_future().share();
  std::promise<FinishReason> finished_;
  std::future<FinishReason> finished_future_ = finished_.get_future();
};

EngineOptions engine_opts() {
  EngineOptions o;
  o.threads = 2;
  o.context = 256;
  o.kv_blocks = 64;
  return o;
}

TEST(SchedulerQueueTimeout, WaitingRequestTimesOutAndTheRunningOneFinishes) {
  Engine engine(kData + "/devB", engine_opts());
  SchedulerOptions so;
  so.max_seqs = 1;
  so.queue_timeout_ms = 100;
  Scheduler sched(engine.model(), engine.cache(), engine.context(), so);
  Staller x;
  x.submit(sched);
  auto waiting = std::async(std::launch::async, [&] {
    GenerationParams p;
    p.sampling.temperature = 0;
    p.max_tokens = 2;
    return generate_blocking(sched, {4, 5}, p);
  });
  std::this_thread::sleep_for(300ms);
  x.release();
  const GenerationResult r = waiting.get();
  EXPECT_EQ(r.finish, FinishReason::Error);
  EXPECT_EQ(r.error, kQueueTimeoutError);
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(x.finish(), FinishReason::Length);  // the running one was not disturbed
  // A request that finds a free slot is not timed out, however long it then runs.
  GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = 4;
  const GenerationResult ok = generate_blocking(sched, {6, 7}, p);
  EXPECT_EQ(ok.finish, FinishReason::Length);
  EXPECT_EQ(ok.tokens.size(), 4u);
}

struct OverloadServer {
  OverloadServer(int max_queue, int queue_timeout_ms)
      : tok(load_tokenizer(kData + "/devB")),
        engine(kData + "/devB", engine_opts()),
        sched(engine.model(), engine.cache(), engine.context(),
              SchedulerOptions{1, 64, max_queue, queue_timeout_ms}),
        svc(sched, tok, metrics, service_config()),
        http(svc, sched, metrics, http_opts()) {
    port = http.bind();
    thread = std::thread([this] { http.serve(); });
  }
  ~OverloadServer() {
    http.stop();
    thread.join();
  }
  ServiceConfig service_config() {
    ServiceConfig c;
    c.model_id = "devB";
    c.context = 256;
    c.vocab_size = engine.config().vocab_size;
    c.end_ids = tok.eos_ids();
    c.max_json_depth = 32;
    return c;
  }
  static HttpOptions http_opts() {
    HttpOptions o;
    o.port = 0;
    o.max_body_bytes = 64 * 1024;
    o.max_header_bytes = 4096;
    o.threads = 8;
    o.keep_alive_ping_ms = 50;
    o.retry_after_s = 3;
    return o;
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }

  Tokenizer tok;
  Engine engine;
  Metrics metrics;
  Scheduler sched;
  OpenAiService svc;
  HttpServer http;
  int port = 0;
  std::thread thread;
};

std::string chat(bool stream, int max_tokens = 3) {
  return nlohmann::json{{"model", "devB"},
                        {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                        {"max_tokens", max_tokens},
                        {"temperature", 0},
                        {"stream", stream}}
      .dump();
}

// Sends `request` as it is and returns what the server answered (up to its closing the
// connection, 2 s of silence, or a whole JSON reply).
std::string raw_exchange(int port, const std::string& request) {
  return hearth::testing::raw_exchange(port, request, 2, [](const std::string& got) {
    return got.find("\r\n\r\n") != std::string::npos && got.back() == '}';
  });
}

// The status and the OpenAI error object's code.
void expect_error(const httplib::Result& res, int status, const std::string& code) {
  ASSERT_TRUE(res) << "no response (expected " << status << " " << code << ")";
  EXPECT_EQ(res->status, status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << res->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_EQ(j["error"]["code"], code) << res->body;
}

TEST(ServerOverload, FullQueueGets429WithRetryAfterAndAcceptedWorkCompletes) {
  OverloadServer s(/*max_queue=*/1, /*queue_timeout_ms=*/0);
  Staller x;
  x.submit(s.sched);  // holds the only slot, and the scheduler thread
  auto queued = std::async(std::launch::async, [&] {
    auto c = s.client();
    return c.Post("/v1/chat/completions", chat(false), "application/json");
  });
  std::this_thread::sleep_for(300ms);  // the request above is in the queue now
  auto c = s.client();
  auto res = c.Post("/v1/chat/completions", chat(false), "application/json");
  expect_error(res, 429, "queue_full");
  EXPECT_EQ(res->get_header_value("Retry-After"), "3");
  EXPECT_EQ(nlohmann::json::parse(res->body)["error"]["type"], "rate_limit_error");
  x.release();
  EXPECT_EQ(x.finish(), FinishReason::Length);
  auto done = queued.get();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->body;
  EXPECT_EQ(nlohmann::json::parse(done->body)["choices"][0]["finish_reason"], "length");
}

TEST(ServerOverload, QueueTimeoutIsA503WithRetryAfterStreamedOrNot) {
  OverloadServer s(/*max_queue=*/4, /*queue_timeout_ms=*/200);
  Staller x;
  x.submit(s.sched);
  auto plain = std::async(std::launch::async, [&] {
    auto c = s.client();
    return c.Post("/v1/chat/completions", chat(false), "application/json");
  });
  auto streamed = std::async(std::launch::async, [&] {
    auto c = s.client();
    return c.Post("/v1/chat/completions", chat(true), "application/json");
  });
  std::this_thread::sleep_for(600ms);  // well past the timeout, with pings every 50 ms
  x.release();
  for (auto* f : {&plain, &streamed}) {
    auto res = f->get();
    expect_error(res, 503, "queue_timeout");
    EXPECT_EQ(res->get_header_value("Retry-After"), "3");
  }
  EXPECT_EQ(x.finish(), FinishReason::Length);
  // The server goes on serving: a request now is admitted at once and streams to [DONE].
  auto c = s.client();
  auto ok = c.Post("/v1/chat/completions", chat(true), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find("data: [DONE]"), std::string::npos) << ok->body;
  // The blocks are back (the stats catch up at the end of the scheduler's step).
  for (int i = 0; i < 100 && s.sched.stats().kv_blocks_used != 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(s.sched.stats().kv_blocks_used, 0);
}

// The Anthropic and Responses routes hold their status line the same way.
TEST(ServerOverload, QueueTimeoutIsA503WithRetryAfterOnMessagesAndResponses) {
  OverloadServer s(/*max_queue=*/8, /*queue_timeout_ms=*/200);
  Staller x;
  x.submit(s.sched);
  auto post = [&](const char* path, bool stream) {
    return std::async(std::launch::async, [&s, path, stream] {
      const std::string st = stream ? "true" : "false";
      const std::string body = std::string(path) == "/v1/messages"
                                   ? R"({"model": "devB", "max_tokens": 4, "stream": )" + st +
                                         R"(, "messages": [{"role": "user", "content": "hi"}]})"
                                   : R"({"model": "devB", "max_output_tokens": 4, "stream": )" +
                                         st + R"(, "input": "hi"})";
      auto c = s.client();
      return c.Post(path, body, "application/json");
    });
  };
  std::vector<std::future<httplib::Result>> replies;
  for (const char* path : {"/v1/messages", "/v1/responses"})
    for (bool stream : {false, true}) replies.push_back(post(path, stream));
  std::this_thread::sleep_for(600ms);  // well past the timeout, with pings every 50 ms
  x.release();
  for (auto& f : replies) {
    auto res = f.get();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_NE(res->body.find("queue"), std::string::npos) << res->body;
    EXPECT_EQ(res->get_header_value("Retry-After"), "3");
  }
  EXPECT_EQ(x.finish(), FinishReason::Length);
}

TEST(ServerOverload, HeaderBodyAndDepthLimitsAnswerWithErrorObjects) {
  OverloadServer s(/*max_queue=*/4, /*queue_timeout_ms=*/0);
  auto c = s.client();
  httplib::Headers big;
  for (int i = 0; i < 8; ++i) big.emplace("X-Filler-" + std::to_string(i), std::string(1000, 'a'));
  expect_error(c.Post("/v1/chat/completions", big, chat(false), "application/json"), 431,
               "headers_too_large");
  expect_error(
      c.Post("/v1/chat/completions", std::string(65 * 1024, ' ') + chat(false), "application/json"),
      413, "request_too_large");
  const std::string deep =
      "{\"model\": \"devB\", \"messages\": " + std::string(33, '[') + std::string(33, ']') + "}";
  expect_error(c.Post("/v1/chat/completions", deep, "application/json"), 400, "json_too_deep");
  // A body without Content-Length would be buffered whole by the HTTP library: refused on the
  // headers alone (sent raw, so that no unread body races the answer).
  const std::string reply = raw_exchange(
      s.port,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 411", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"length_required\""), std::string::npos) << reply;
  // Just under every limit: served.
  httplib::Headers fine;
  for (int i = 0; i < 3; ++i) fine.emplace("X-Filler-" + std::to_string(i), std::string(1000, 'a'));
  auto ok = c.Post("/v1/chat/completions", fine, chat(false), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

// A second server on a port already served must fail to bind, not share the port (cpp-httplib's
// default socket options set SO_REUSEPORT, under which the kernel splits connections between them).
TEST(ServerOverload, SecondServerOnTheSamePortIsRefused) {
  OverloadServer s(/*max_queue=*/4, /*queue_timeout_ms=*/0);
  HttpOptions o = OverloadServer::http_opts();
  o.port = s.port;
  HttpServer second(s.svc, s.sched, s.metrics, o);
  EXPECT_THROW(second.bind(), Error);
}

// Connects without blocking; true when the kernel completed the handshake within `ms`.
bool connects_within(int fd, int port, int ms) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const sockaddr_in addr = hearth::testing::loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, ms) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

// A burst of clients arriving while no worker is accepting waits in the kernel's listen queue.
// The server here is bound but never accepts: with the backlog of 5 that Debian's cpp-httplib is
// built with, the handshakes past the sixth are dropped (the soak saw those as connection resets).
TEST(ServerOverload, BurstOfConnectionsWaitsInTheListenBacklog) {
  OverloadServer s(/*max_queue=*/4, /*queue_timeout_ms=*/0);
  HttpOptions o = OverloadServer::http_opts();
  o.port = 0;
  HttpServer idle(s.svc, s.sched, s.metrics, o);
  const int port = idle.bind();
  constexpr int kClients = 64;
  std::vector<int> fds;
  int connected = 0;
  for (int i = 0; i < kClients; ++i) {
    fds.push_back(::socket(AF_INET, SOCK_STREAM, 0));
    connected += connects_within(fds.back(), port, 500) ? 1 : 0;
  }
  for (const int fd : fds) ::close(fd);
  EXPECT_EQ(connected, kClients);
}

}  // namespace
}  // namespace hearth::server
