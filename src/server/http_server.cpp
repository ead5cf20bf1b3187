#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <thread>

#include "server/anthropic_response.h"
#include "server/api_error.h"
#include "server/sse.h"
#include "util/error.h"

namespace hearth::server {

// Counts a generation request from its start until its response is fully written.
struct InFlight {
  explicit InFlight(HttpServer& s) : s_(s) {
    ++s_.in_flight_;
    s_.metrics_.add_in_flight(1);
  }
  ~InFlight() {
    s_.metrics_.add_in_flight(-1);
    --s_.in_flight_;
  }
  HttpServer& s_;
};

namespace {

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

// /v1/messages speaks Anthropic's API, errors included; every other route OpenAI's.
enum class ErrorShape { kOpenAi, kAnthropic };

ErrorShape shape_for(const std::string& path) {
  return path == "/v1/messages" ? ErrorShape::kAnthropic : ErrorShape::kOpenAi;
}

void send_error(httplib::Response& res, const ApiError& e, ErrorShape shape = ErrorShape::kOpenAi,
                int retry_after_s = 0) {
  // Overload answers say when to come back, as OpenAI's do.
  if (retry_after_s > 0 && (e.status() == 429 || e.code() == "queue_timeout"))
    res.set_header("Retry-After", std::to_string(retry_after_s));
  send_json(res, e.status(),
            to_wire(shape == ErrorShape::kAnthropic ? anthropic_error_body(e) : e.body()));
}

// A non-streamed reply: answered normally when it is ready within one ping. A longer one commits
// to 200 and sends a space (insignificant before JSON) each ping, because a failed write is the
// only sign this HTTP library gives of a client that has gone; the work is then cancelled.
// The cost: a failure after the first ping arrives as an error object under status 200.
// Nothing is committed while the request is still queued (it cannot be noticed leaving then, but
// the queue timeout bounds that wait), so a queue timeout gets its own status.
void send_pending(httplib::Response& res, const std::shared_ptr<PendingReply>& pending,
                  std::chrono::milliseconds ping, const std::shared_ptr<void>& guard,
                  int retry_after_s) {
  bool ready = pending->wait(ping);
  while (!ready && !pending->started()) ready = pending->wait(ping);
  if (ready) {
    if (pending->overloaded()) res.set_header("Retry-After", std::to_string(retry_after_s));
    return send_json(res, pending->status(), pending->body());
  }
  res.status = 200;
  res.set_chunked_content_provider(
      "application/json",
      [pending, ping](size_t, httplib::DataSink& sink) {
        const bool ready = pending->wait(ping);
        const std::string out = ready ? pending->body() : " ";
        if (!sink.write(out.data(), out.size())) {
          pending->cancel();
          return false;
        }
        if (ready) sink.done();
        return true;
      },
      [pending, guard](bool success) {
        if (!success) pending->cancel();
      });
}

// The endpoint label for metrics: known routes by name, anything else lumped together.
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/messages",
                            "/v1/responses", "/v1/models", "/health", "/metrics"})
    if (path == known) return known;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

HttpServer::HttpServer(OpenAiService& svc, Scheduler& sched, Metrics& metrics, HttpOptions opts)
    : svc_(svc),
      sched_(sched),
      metrics_(metrics),
      opts_(std::move(opts)),
      svr_(std::make_unique<httplib::Server>()) {
  const size_t threads = static_cast<size_t>(std::max(4, opts_.threads));
  svr_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr_->set_payload_max_length(opts_.max_body_bytes);
  svr_->set_read_timeout(opts_.read_timeout_s, 0);
  svr_->set_write_timeout(opts_.write_timeout_s, 0);
  svr_->set_keep_alive_timeout(opts_.keep_alive_timeout_s);
  svr_->set_keep_alive_max_count(1000);
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and
  // silently take half the connections. SO_REUSEADDR alone still allows a quick restart.
  svr_->set_socket_options([this](int fd) {
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = fd;
  });
  routes();
}

HttpServer::~HttpServer() = default;

bool HttpServer::authorized(const std::string& header, const std::string& x_api_key) const {
  if (opts_.api_key.empty()) return true;
  // Anthropic clients send x-api-key; OpenAI clients a bearer token. Either one may carry it.
  if (!x_api_key.empty() && constant_time_equal(x_api_key, opts_.api_key)) return true;
  const std::string prefix = "Bearer ";
  if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) return false;
  return constant_time_equal(header.substr(prefix.size()), opts_.api_key);
}

void HttpServer::routes() {
  using httplib::Request;
  using httplib::Response;

  // Every /v1 handler: key check, errors in the route's API shape for whatever goes wrong.
  auto api = [this](auto fn) {
    return [this, fn](const Request& req, Response& res) {
      const ErrorShape shape = shape_for(req.path);
      try {
        if (!authorized(req.get_header_value("Authorization"), req.get_header_value("x-api-key")))
          throw ApiError(401,
                         req.has_header("Authorization") || req.has_header("x-api-key")
                             ? "Incorrect API key provided."
                             : "You didn't provide an API key. You need to provide your API key "
                               "in an Authorization header using Bearer auth (i.e. "
                               "Authorization: Bearer YOUR_KEY).",
                         "invalid_request_error", "", "invalid_api_key");
        fn(req, res);
      } catch (const ApiError& e) {
        send_error(res, e, shape, opts_.retry_after_s);
      } catch (const Error& e) {
        // User-caused by the project's convention.
        send_error(res, invalid_request(e.what()), shape);
      } catch (const std::bad_alloc&) {
        send_error(res, ApiError(503, "out of memory", "server_error"), shape);
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "server_error"),
                   shape);
      }
    };
  };

  auto generate =
      [this](Reply (OpenAiService::*method)(const std::string&, OpenAiService::Clock::time_point)) {
        return [this, method](const Request& req, Response& res) {
          const auto t0 = OpenAiService::Clock::now();
          auto guard = std::make_shared<InFlight>(*this);
          Reply reply = (svc_.*method)(req.body, t0);
          const auto ping = std::chrono::milliseconds(opts_.keep_alive_ping_ms);
          if (reply.pending)
            return send_pending(res, reply.pending, ping, guard, opts_.retry_after_s);
          auto stream = reply.sse;
          while (!stream->wait_started(ping)) {
          }
          if (auto e = stream->failed_before_start())
            return send_error(res, *e, shape_for(req.path), opts_.retry_after_s);
          res.status = 200;
          res.set_header("Cache-Control", "no-cache");
          res.set_header("X-Accel-Buffering", "no");
          res.set_chunked_content_provider(
              "text/event-stream",
              [stream, ping](size_t, httplib::DataSink& sink) {
                std::string out;
                const bool more = stream->next(out, ping);
                if (out.empty() && more) out = std::string(kSseKeepAlive);
                if (!out.empty() && !sink.write(out.data(), out.size())) {
                  stream->cancel();  // the client went away: free its sequences now
                  return false;
                }
                if (!more) sink.done();
                return true;
              },
              [stream, guard](bool success) {
                if (!success) stream->cancel();
              });
        };
      };

  svr_->Post("/v1/chat/completions", api(generate(&OpenAiService::chat_completions)));
  svr_->Post("/v1/completions", api(generate(&OpenAiService::completions)));
  svr_->Post("/v1/messages", api(generate(&OpenAiService::messages)));
  svr_->Post("/v1/responses", api(generate(&OpenAiService::responses)));
  svr_->Get("/v1/models",
            api([this](const Request&, Response& res) { send_json(res, 200, svc_.models()); }));
  svr_->Get(R"(/v1/models/(.+))", api([this](const Request& req, Response& res) {
              send_json(res, 200, svc_.model(req.matches[1]));
            }));
  svr_->Get("/health", [this](const Request&, Response& res) {
    if (svc_.draining())
      send_json(res, 503, R"({"status":"shutting down"})");
    else
      send_json(res, 200, R"({"status":"ok"})");
  });
  svr_->Get("/metrics", [this](const Request&, Response& res) {
    res.set_content(metrics_.render(sched_.stats()), "text/plain; version=0.0.4; charset=utf-8");
  });

  // Refused before any body is read or any route runs: header bytes past the limit, and a POST
  // body without Content-Length (chunked, or until the connection closes), which cpp-httplib
  // would buffer whole without applying the body limit.
  svr_->set_pre_routing_handler([this](const Request& req, Response& res) {
    size_t bytes = 0;
    for (const auto& [k, v] : req.headers) bytes += k.size() + v.size() + 4;
    if (bytes > opts_.max_header_bytes) {
      send_error(
          res, ApiError(431,
                        "The request headers are too large (" + std::to_string(bytes) +
                            " bytes; the limit is " + std::to_string(opts_.max_header_bytes) + ").",
                        "invalid_request_error", "", "headers_too_large"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST" && !req.has_header("Content-Length")) {
      send_error(res, ApiError(411, "The request body must be sent with a Content-Length header.",
                               "invalid_request_error", "", "length_required"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Statuses httplib sets itself (no route, body too large, unparsable request) get a body too.
  svr_->set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    ApiError e(res.status, "", "invalid_request_error");
    switch (res.status) {
      case 404:
        e = ApiError(404, "Invalid URL (" + req.method + " " + req.path + ")",
                     "invalid_request_error", "", "unknown_url");
        break;
      case 413:
        e = ApiError(413, "The request body is too large.", "invalid_request_error", "",
                     "request_too_large");
        break;
      default:
        e = ApiError(
            res.status,
            "The request could not be processed (HTTP " + std::to_string(res.status) + ").",
            res.status >= 500 ? "server_error" : "invalid_request_error");
    }
    send_error(res, e, shape_for(req.path));
  });
  svr_->set_exception_handler([](const Request& req, Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error", "server_error"), shape_for(req.path));
  });
  svr_->set_logger([this](const Request& req, const Response& res) {
    metrics_.count_request(endpoint_label(req.path), res.status);
  });
}

int HttpServer::bind() {
  int port = opts_.port;
  if (port == 0) {
    port = svr_->bind_to_any_port(opts_.host);
    if (port < 0) throw Error(opts_.host, "cannot listen on any port");
  } else if (!svr_->bind_to_port(opts_.host, port)) {
    throw Error(opts_.host + ":" + std::to_string(port),
                "cannot listen (address in use, or not an address of this machine)");
  }
  // listen() on a listening socket only changes its backlog (Linux).
  if (listen_fd_ >= 0 && ::listen(listen_fd_, opts_.listen_backlog) != 0)
    throw Error(opts_.host + ":" + std::to_string(port), "cannot set the listen backlog");
  return port;
}

void HttpServer::serve() {
  svr_->listen_after_bind();
}

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  svc_.set_draining(true);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Whatever is still generating ends now; its client gets an error instead of a cut stream.
  sched_.shutdown(/*drain=*/false);
  const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < hard)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop();
}

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  // cpp-httplib's stop() does nothing until its accept loop has marked itself running, so a stop
  // that comes first (a signal at start-up) would leave serve() accepting for ever. A shut-down
  // listening socket fails the accept loop's next accept() instead, whenever it comes.
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  svr_->stop();
}

}  // namespace hearth::server
