#pragma once
// The HTTP face of the service (OpenAI routes, and Anthropic's /v1/messages with its own error
// shape), on cpp-httplib: routes, API-key check, body limit (413),
// timeouts, keep-alive, SSE streaming with client-disconnect detection, OpenAI-style error
// bodies for every failure, request metrics, and a graceful shutdown.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "runtime/scheduler.h"
#include "server/metrics.h"
#include "server/service.h"

namespace httplib {
class Server;
}

namespace hearth::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (see bind())
  std::string api_key;  // empty: no authentication
  size_t max_body_bytes = 8u << 20;
  int threads = 64;  // each streaming client holds one while it streams
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int keep_alive_timeout_s = 5;
  // A streaming response with nothing to say for this long writes an SSE comment, which is how a
  // vanished client is noticed (the write fails) even before the first token.
  int keep_alive_ping_ms = 1000;
  // Overload and hostile clients (see README, Reliability). All request headers together may
  // hold this many bytes (larger: 431); cpp-httplib itself refuses any one line over 8 KiB.
  size_t max_header_bytes = 32u << 10;
  int retry_after_s = 2;  // the Retry-After of a 429 (queue full) or 503 (queue timeout)
  // Connections the kernel may hold before accept() (capped by net.core.somaxconn). Debian's
  // cpp-httplib is built with 5, which a burst of clients opening a connection each overruns.
  int listen_backlog = 1024;
};

class HttpServer {
 public:
  HttpServer(OpenAiService& svc, Scheduler& sched, Metrics& metrics, HttpOptions opts);
  ~HttpServer();

  int bind();    // returns the bound port; throws hearth::Error when it cannot listen
  void serve();  // accepts connections until stop(); call bind() first

  // Refuses new work with 503, lets in-flight requests finish for up to `grace`, cancels the
  // rest in the scheduler (their clients get a clean error), then stops listening.
  void shutdown(std::chrono::milliseconds grace);
  void stop();
  int in_flight() const { return in_flight_.load(); }

 private:
  friend struct InFlight;
  void routes();
  // Authorization: Bearer KEY (OpenAI clients) or x-api-key: KEY (Anthropic clients).
  bool authorized(const std::string& bearer_header, const std::string& x_api_key) const;

  OpenAiService& svc_;
  Scheduler& sched_;
  Metrics& metrics_;
  HttpOptions opts_;
  std::unique_ptr<httplib::Server> svr_;
  int listen_fd_ = -1;  // the listening socket, seen as cpp-httplib creates it
  std::atomic<int> in_flight_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace hearth::server
