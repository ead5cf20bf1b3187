// hearth serve MODEL: the HTTP server (OpenAI chat completions, completions and responses,
// Anthropic messages, models, health, metrics) over one model with continuous batching.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "command.h"
#include "engine_options.h"
#include "format/checkpoint.h"
#include "parallel/world.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/service.h"
#include "tokenizer/load.h"
#include "util/error.h"

namespace hearth::cli {
namespace {

struct ServeOpts {
  std::string model;
  std::vector<std::string> aliases;
  bool parse_special_in_messages = false;
  server::HttpOptions http;
  EngineOptions engine;
  int max_seqs = 16;
  int max_queue = 256;
  int kv_blocks = 0;
  double kv_memory_gib = 0;
  double max_body_mib = 8;
  double shutdown_grace_s = 10;
  double queue_timeout_s = 60;  // 0: requests wait in the queue without limit
  int max_header_kib = 32;
  int max_json_depth = server::kDefaultMaxJsonDepth;
};

std::string model_id(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  return name.empty() ? path : name;
}

int kv_blocks_for(const ServeOpts& o, const ModelConfig& cfg, int context) {
  const int bs = o.engine.block_size;
  const size_t per_block = kv_bytes_per_token(cfg, kv_dtype(o.engine)) * static_cast<size_t>(bs);
  if (o.kv_blocks > 0) return o.kv_blocks;
  if (o.kv_memory_gib > 0) {
    const double blocks =
        std::floor(o.kv_memory_gib * 1073741824.0 / static_cast<double>(per_block));
    if (blocks < 1) throw Error("--kv-memory", "is smaller than one KV block");
    return static_cast<int>(std::min(blocks, 1e9));
  }
  // Default: room for every sequence slot at full context, but no more than 2 GiB (and never
  // less than one full context).
  const size_t one_ctx = static_cast<size_t>(blocks_for_context(context, bs));
  const size_t all = one_ctx * static_cast<size_t>(o.max_seqs);
  const size_t cap = (size_t{2} << 30) / per_block;
  return static_cast<int>(std::max(one_ctx, std::min(all, cap)));
}

// Under mpirun, once the server is told to stop: mpirun sends SIGTERM about a second after a rank
// dies, and SIGKILL about a second after that. A step waiting on the dead rank would hold the
// shutdown (and every in-flight request) until the SIGKILL; a collective still waiting after
// kStall means a rank is gone, so the wait is ended and every request gets its 503 first. Lives
// until the model is gone: the model's last word to the other ranks waits on them too.
class StallWatch {
 public:
  ~StallWatch() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void arm() {
    Communicator* comm = parallel::world();
    if (!comm || thread_.joinable()) return;
    thread_ = std::thread([this, comm] {
      while (!stop_) {
        if (comm->stalled_seconds() > kStall) {
          comm->abort();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }

 private:
  static constexpr double kStall = 0.25;  // seconds; a live rank is one layer's compute away
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int run_serve(ServeOpts o) {
  // Signals are taken synchronously by the main thread; every thread started below inherits
  // the mask, so none of them is interrupted.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server

  if (o.max_seqs < 1) throw Error("--max-seqs", "must be >= 1");
  if (o.max_queue < 1) throw Error("--max-queue", "must be >= 1");
  if (o.kv_blocks < 0) throw Error("--kv-blocks", "must be >= 0");
  if (o.kv_memory_gib < 0) throw Error("--kv-memory", "must be >= 0");
  if (!(o.max_body_mib > 0)) throw Error("--max-body", "must be > 0");
  if (!(o.queue_timeout_s >= 0)) throw Error("--queue-timeout", "must be >= 0");
  if (o.max_header_kib < 1) throw Error("--max-header-size", "must be >= 1");
  if (o.max_json_depth < 1) throw Error("--max-json-depth", "must be >= 1");
  if (!has_tokenizer(o.model))
    throw Error(o.model, "no tokenizer found (tokenizer.json or GGUF tokenizer metadata)");
  Tokenizer tok = load_tokenizer(o.model);
  StallWatch stall_watch;  // outlives the engine (see StallWatch)
  Checkpoint ck = open_checkpoint(o.model);
  o.engine.kv_blocks = kv_blocks_for(o, ck.config, engine_context(ck.config, o.engine));
  Engine engine(std::move(ck), o.engine);
  // Declared before the scheduler: sequences still queued at destruction report into it.
  server::Metrics metrics;
  SchedulerOptions so;
  so.max_seqs = o.max_seqs;
  so.max_queue = o.max_queue;
  so.queue_timeout_ms = static_cast<int>(std::min(o.queue_timeout_s * 1000.0, 2e9));
  so.prefill_chunk = std::min(128, o.engine.max_batch_tokens);
  Scheduler sched(engine.model(), engine.cache(), engine.context(), so);

  server::ServiceConfig sc;
  sc.model_id = model_id(o.model);
  sc.aliases = o.aliases;
  sc.parse_special_in_messages = o.parse_special_in_messages;
  sc.context = engine.context();
  sc.vocab_size = engine.config().vocab_size;
  sc.end_ids = end_of_sequence_ids(engine.config(), &tok);
  sc.max_json_depth = o.max_json_depth;
  server::OpenAiService svc(sched, tok, metrics, sc);
  o.http.max_body_bytes = static_cast<size_t>(o.max_body_mib * 1048576.0);
  o.http.max_header_bytes = static_cast<size_t>(o.max_header_kib) << 10;
  server::HttpServer http(svc, sched, metrics, o.http);
  const int port = http.bind();
  std::fprintf(stderr,
               "hearth serve: listening on http://%s:%d (model %s, context %d, %d sequences, %d "
               "KV blocks of %d tokens, prefix cache %s)\n",
               o.http.host.c_str(), port, sc.model_id.c_str(), engine.context(), o.max_seqs,
               engine.cache().n_blocks(), engine.cache().block_size(),
               o.engine.prefix_cache ? "on" : "off");
  std::fflush(stderr);

  std::thread listener([&] { http.serve(); });
  int sig = 0;
  while (sig <= 0) sig = sigwaitinfo(&sigs, nullptr);
  std::fprintf(stderr, "hearth serve: %s received, finishing in-flight requests (up to %gs)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", o.shutdown_grace_s);
  std::fflush(stderr);
  stall_watch.arm();
  http.shutdown(std::chrono::milliseconds(static_cast<int64_t>(o.shutdown_grace_s * 1000)));
  listener.join();
  std::fprintf(stderr, "hearth serve: stopped\n");
  return 0;
}

RegisterCommand reg("serve", "OpenAI-compatible HTTP server", [](CLI::App& app) {
  auto o = std::make_shared<ServeOpts>();
  o->engine.threads = 0;
  app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")->required();
  app.add_option("--host", o->http.host, "Address to listen on (localhost unless told otherwise)")
      ->capture_default_str();
  app.add_option("--port", o->http.port, "Port (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--api-key", o->http.api_key,
                 "Require 'Authorization: Bearer KEY' (or 'x-api-key: KEY') on /v1 requests")
      ->envname("HEARTH_API_KEY");
  app.add_option("--alias", o->aliases,
                 "Another model name the server answers to (repeatable; the model's own id is "
                 "the file or directory name); listed in /v1/models");
  app.add_flag("--parse-special-in-messages", o->parse_special_in_messages,
               "Encode special-token text typed inside chat messages (e.g. <|eot_id|>) as "
               "special tokens, as transformers' apply_chat_template does. Default: it is plain "
               "text, so a user cannot forge turns");
  add_engine_options(app, o->engine);
  app.add_option("--max-batch", o->engine.max_batch_tokens, "Same as --batch")
      ->check(CLI::Range(1, 65536));
  app.add_option("--max-seqs", o->max_seqs, "Sequences decoded together")->capture_default_str();
  app.add_option("--max-queue", o->max_queue, "Waiting sequences before requests get 429")
      ->capture_default_str();
  auto* blocks = app.add_option("--kv-blocks", o->kv_blocks, "KV cache blocks (16 tokens each)");
  app.add_option("--kv-memory", o->kv_memory_gib, "KV cache size in GiB")->excludes(blocks);
  app.add_flag("!--no-prefix-cache", o->engine.prefix_cache,
               "Recompute every prompt instead of reusing the KV blocks of prefixes seen before");
  app.add_option("--http-threads", o->http.threads, "HTTP worker threads")->capture_default_str();
  app.add_option("--max-body", o->max_body_mib, "Largest request body in MiB (larger: 413)")
      ->capture_default_str();
  app.add_option("--queue-timeout", o->queue_timeout_s,
                 "Seconds a request may wait in the queue before it gets 503 (0: no limit)")
      ->capture_default_str();
  app.add_option("--max-header-size", o->max_header_kib,
                 "All request headers together, in KiB (larger: 431)")
      ->capture_default_str();
  app.add_option("--max-json-depth", o->max_json_depth,
                 "Deepest nesting of arrays and objects in a request body (deeper: 400)")
      ->capture_default_str();
  app.add_option("--retry-after", o->http.retry_after_s,
                 "Seconds a 429 or queue-timeout 503 tells the client to wait")
      ->capture_default_str();
  app.add_option("--read-timeout", o->http.read_timeout_s, "Seconds to wait for request bytes")
      ->capture_default_str();
  app.add_option("--keep-alive-timeout", o->http.keep_alive_timeout_s,
                 "Seconds an idle keep-alive connection stays open")
      ->capture_default_str();
  app.add_option("--shutdown-grace", o->shutdown_grace_s,
                 "Seconds in-flight requests may take to finish after SIGINT/SIGTERM")
      ->capture_default_str();
  return [o] { return run_serve(*o); };
});

}  // namespace
}  // namespace hearth::cli
