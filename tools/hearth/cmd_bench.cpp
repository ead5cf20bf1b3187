// hearth bench MODEL [-p 512[,...]] [-n 128[,...]] [-b SEQS] [-t N] [-r REPS] [--json]:
// llama-bench-style figures; each listed prompt and generation length is its own test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "command.h"
#include "runtime/bench.h"
#include "runtime/cost.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace hearth::cli {
namespace {

struct BenchCliOpts {
  std::string model;
  std::vector<int> prompts{512}, gens{128};
  int reps = 5, threads = 0, batch = 0, ubatch = 0;
  std::vector<int> depths{0};
  std::string device = "cpu";
  std::string kv_type = "f32";
  bool json = false, quiet = false, mmap = false;
  bool cost = false;
  CostInputs price;
  std::string reference_prices;
};

int run_bench_cmd(const BenchCliOpts& o) {
  for (int v : o.prompts)
    if (v < 0) throw Error("-p", "must be >= 0, got " + std::to_string(v));
  for (int v : o.gens)
    if (v < 0) throw Error("-n", "must be >= 0, got " + std::to_string(v));
  if (o.reps < 1) throw Error("-r", "must be >= 1");
  for (int v : o.depths)
    if (v < 0) throw Error("-d", "must be >= 0, got " + std::to_string(v));
  const int max_depth = *std::max_element(o.depths.begin(), o.depths.end());
  if (o.cost && !(o.price.price_per_hour > 0))
    throw Error("--cost", "needs --price-per-hour (the machine's $ per hour, > 0)");
  if (o.price.watts < 0 || o.price.price_per_kwh < 0)
    throw Error("--watts/--price-per-kwh", "must be >= 0");
  if ((o.price.watts > 0) != (o.price.price_per_kwh > 0))
    throw Error("--watts", "--watts and --price-per-kwh go together");
  const std::vector<ReferencePrice> refs = o.reference_prices.empty()
                                               ? default_reference_prices()
                                               : load_reference_prices(o.reference_prices);
  const int max_prompt = *std::max_element(o.prompts.begin(), o.prompts.end());
  const int max_gen = *std::max_element(o.gens.begin(), o.gens.end());
  EngineOptions eo;
  eo.device = o.device;
  eo.threads = o.threads;
  eo.kv_type = o.kv_type;
  eo.mmap_weights = o.mmap;
  eo.context = std::max(16, max_depth + std::max(max_prompt, max_gen) + 1);
  // As llama-bench's default ubatch: prompts, and the context a depth puts before each test, go
  // through in pieces of at most 512 tokens unless --ubatch says otherwise.
  const int ubatch = o.ubatch > 0 ? o.ubatch : 512;
  eo.max_batch_tokens = std::max(std::clamp(std::max(max_prompt, max_depth), 1, ubatch), o.batch);
  if (o.batch > 0 || (max_depth > 0 && max_gen > 0)) {
    // One sequence's context for pp/tg, plus room for the sequences decoding together and for
    // the one at position 0 that decoding at depth is timed against.
    const int per_seq = (max_gen + 1 + eo.block_size - 1) / eo.block_size;
    eo.kv_blocks = (eo.context + eo.block_size - 1) / eo.block_size +
                   (o.batch + (max_depth > 0 ? 1 : 0)) * per_seq;
  }
  const auto load_start = std::chrono::steady_clock::now();
  Engine engine(o.model, eo);
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const int threads = o.threads > 0 ? o.threads : default_thread_count();
  const bool show = !o.quiet && !o.json && stdout_is_tty();
  BenchOptions bo;
  bo.reps = o.reps;
  if (show)
    bo.on_progress = [](const std::string& s) {
      std::fprintf(stderr, "\r%-30s", s.c_str()), std::fflush(stderr);
    };
  // As llama-bench: each prompt length alone, then each generation length alone.
  std::vector<BenchStat> stats;
  auto run = [&](int prompt, int gen, int batch, int depth) {
    bo.prompt = prompt;
    bo.gen = gen;
    bo.batch = batch;
    bo.depth = depth;
    for (auto& s : run_bench(engine, bo)) stats.push_back(std::move(s));
  };
  for (int d : o.depths) {
    for (int p : o.prompts)
      if (p > 0) run(p, 0, 0, d);
    for (size_t i = 0; i < o.gens.size(); ++i)
      if (o.gens[i] > 0) run(0, o.gens[i], i == 0 && d == o.depths.front() ? o.batch : 0, d);
  }
  if (show) std::fprintf(stderr, "\r%-30s\r", "");
  // A GPU's decode limit is its own memory's bandwidth; the CPU's is the host's read bandwidth.
  const std::optional<double> device_bw = engine.backend().device_bandwidth_gbs();
  const double bw = device_bw ? *device_bw : measure_read_bandwidth_gbs(threads);
  const char* bw_kind = device_bw ? "device copy" : "read";
  // The tg limit, for the first generation length: the average context over the run decides the
  // KV bytes read per token.
  const int gen = o.gens.front();
  // Under mpirun each rank streams its own slice (the replicated norms are a rounding error), and
  // the probe above is this rank's threads: the fraction is per rank.
  Communicator* const comm = engine.model().comm();
  const double bpt = bytes_per_token(engine, gen / 2) / (comm ? comm->size() : 1);
  double tg_fraction = 0;
  for (auto& s : stats)
    if (s.test == "tg" + std::to_string(gen)) tg_fraction = s.mean * bpt / (bw * 1e9);
  const std::string type = model_type_name(engine.checkpoint());
  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["type"] = type;
    j["threads"] = threads;
    j["size_bytes"] = engine.checkpoint().weight_bytes();
    j["results"] = nlohmann::ordered_json::array();
    for (auto& s : stats) {
      nlohmann::ordered_json r = {
          {"test", s.test}, {"tokens_per_s", s.mean}, {"sd", s.sd}, {"samples", s.samples}};
      if (!s.depth_ratios.empty()) {
        r["ratio_to_depth_0"] = s.depth_ratio_median();
        r["ratio_to_depth_0_samples"] = s.depth_ratios;
      }
      if (comm) {
        // null: the all-reduces ran on the GPUs' streams, timed by no one
        r["comm_ms_per_token"] = s.comm_time_measured
                                     ? nlohmann::ordered_json(s.comm_s_per_token * 1e3)
                                     : nlohmann::ordered_json(nullptr);
        r["comm_bytes_per_token"] = s.comm_bytes_per_token;
      }
      j["results"].push_back(r);
    }
    j["ranks"] = comm ? comm->size() : 1;
    j["device"] = engine.backend().name();
    j["device_name"] = engine.backend().device_name();
    j["ubatch"] = eo.max_batch_tokens;
    j["kv_type"] = o.kv_type;
    j["weights"] = o.mmap ? "file mapping" : "copied";
    j["load_s"] = load_s;
    j["read_bandwidth_gbs"] = bw;
    j["bandwidth_source"] = device_bw ? "device_copy" : "host_read";
    j["bytes_per_token"] = bpt;
    j["tg_limit_tokens_per_s"] = bw * 1e9 / bpt;
    j["tg_bandwidth_fraction"] = tg_fraction;
    // What prefill's arithmetic is measured against: the multiply-adds of one token through every
    // weight matrix, and attention's per key of context.
    const ModelConfig& c = engine.config();
    j["matmul_flops_per_token"] = matmul_flops_per_token(engine);
    j["attention_flops_per_token_per_key"] =
        4.0 * static_cast<double>(c.n_layers * c.n_heads * c.head_dim);
    if (auto tf = engine.backend().device_bf16_tflops()) j["device_bf16_tflops"] = *tf;
    if (o.cost) {
      nlohmann::ordered_json c;
      c["price_per_hour"] = o.price.price_per_hour;
      c["watts"] = o.price.watts;
      c["price_per_kwh"] = o.price.price_per_kwh;
      c["hourly"] = o.price.hourly();
      c["per_million_tokens"] = nlohmann::ordered_json::object();
      for (auto& s : stats)
        c["per_million_tokens"][s.test] = cost_per_million(s.mean, o.price.hourly());
      c["reference_prices"] = nlohmann::ordered_json::array();
      for (auto& r : refs)
        c["reference_prices"].push_back(
            {{"name", r.name}, {"date", r.date}, {"input", r.input}, {"output", r.output}});
      j["cost"] = c;
    }
    if (auto g = engine.backend().graph_stats())
      j["graphs"] = {{"enabled", g->enabled},
                     {"captured", g->captured},
                     {"replayed", g->replayed},
                     {"diverged", g->diverged},
                     {"off_reason", g->off_reason}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("| model | type | size | threads | test | t/s |\n|---|---|---|---|---|---|\n");
  for (auto& s : stats)
    std::printf("| %s | %s | %.2f GiB | %d | %s | %.2f ± %.2f |\n", o.model.c_str(), type.c_str(),
                engine.checkpoint().weight_bytes() / 1073741824.0, threads, s.test.c_str(), s.mean,
                s.sd);
  for (auto& s : stats)
    if (!s.depth_ratios.empty())
      std::printf("%s: %.2fx the speed at position 0 (median of %zu windows, interleaved)\n",
                  s.test.c_str(), s.depth_ratio_median(), s.depth_ratios.size());
  std::printf("%s bandwidth %.1f GB/s, %.0f MB read per token: tg limit %.1f t/s", bw_kind, bw,
              bpt / 1e6, bw * 1e9 / bpt);
  if (gen > 0) std::printf(", reached %.0f%% in tg%d", tg_fraction * 100, gen);
  std::printf("\nloaded in %.2f s (weights %s)\n", load_s,
              o.mmap ? "read from the file mapping" : "copied into memory");
  if (comm) {
    // Rank 0's time in collectives includes waiting for the slowest rank.
    std::printf("tensor parallel over %d ranks, rank 0 in communication:", comm->size());
    for (auto& s : stats)
      if (s.comm_time_measured)
        std::printf(" %s %.3f ms/token (%.0f%%, %.1f KB sent)", s.test.c_str(),
                    s.comm_s_per_token * 1e3, s.comm_s_per_token * s.mean * 100,
                    s.comm_bytes_per_token / 1e3);
      else  // NCCL's all-reduces run on the GPU's stream, between the kernels
        std::printf(" %s time not measured (on the GPU), %.1f KB sent per token", s.test.c_str(),
                    s.comm_bytes_per_token / 1e3);
    std::printf("\n");
  }
  if (o.cost) {
    std::printf("cost at $%.2f/h", o.price.price_per_hour);
    if (o.price.watts > 0)
      std::printf(" + %.0f W at $%.3f/kWh = $%.3f/h", o.price.watts, o.price.price_per_kwh,
                  o.price.hourly());
    std::printf(", $ per million tokens:");
    for (auto& s : stats)
      std::printf(" %s %s $%.4f", s.test.c_str(),
                  s.test.rfind("pp", 0) == 0 ? "(input)" : "(output)",
                  cost_per_million(s.mean, o.price.hourly()));
    std::printf("\nreference API prices, $ per million input/output tokens:");
    for (auto& r : refs)
      std::printf(" %s%s%s%s $%.2f/$%.2f;", r.name.c_str(), r.date.empty() ? "" : " (",
                  r.date.c_str(), r.date.empty() ? "" : ")", r.input, r.output);
    std::printf("\n");
  }
  return 0;
}

RegisterCommand reg(
    "bench", "Measure prompt processing and generation speed (llama-bench style)",
    [](CLI::App& app) {
      auto o = std::make_shared<BenchCliOpts>();
      app.add_option("MODEL", o->model, "GGUF file or Hugging Face checkpoint directory")
          ->required();
      app.add_option("-p,--n-prompt", o->prompts,
                     "Prompt tokens, a comma-separated list (0: no pp)")
          ->delimiter(',')
          ->capture_default_str();
      app.add_option("-n,--n-gen", o->gens,
                     "Generated tokens, a comma-separated list (0: no tg); the first sets the "
                     "bandwidth fraction and -b's length")
          ->delimiter(',')
          ->capture_default_str();
      app.add_option("-r,--reps", o->reps, "Repetitions")->capture_default_str();
      app.add_option("-d,--depth", o->depths,
                     "Tokens already in the context before each test, a comma-separated list "
                     "(as llama-bench's -d; tests are named pp512@d4096); tg at a depth also gives "
                     "its speed "
                     "against a sequence at position 0, timed in alternating windows")
          ->delimiter(',')
          ->capture_default_str();
      app.add_option("-b,--batch-decode", o->batch,
                     "Also time this many sequences decoding together (0: off)")
          ->capture_default_str()
          ->check(CLI::Range(0, 4096));
      app.add_option("-t,--threads", o->threads, "Threads (0: all cores)");
      app.add_option("-u,--ubatch", o->ubatch,
                     "Most prompt tokens in one forward step (default 512, as llama-bench)")
          ->check(CLI::Range(1, 65536));
      app.add_option("--device", o->device, "cpu, cuda or auto")->capture_default_str();
      app.add_flag("--mmap", o->mmap,
                   "CPU: read the weights from the file mapping instead of copying them");
      app.add_option("--kv-type", o->kv_type, "KV cache element type: f32, f16 or bf16")
          ->capture_default_str();
      app.add_flag("--json", o->json, "Print one JSON object");
      app.add_flag("--cost", o->cost,
                   "Also give $ per million tokens of each test, at --price-per-hour");
      app.add_option("--price-per-hour", o->price.price_per_hour,
                     "The machine's price, $ per hour");
      app.add_option("--watts", o->price.watts, "Its power draw under load (with --price-per-kwh)");
      app.add_option("--price-per-kwh", o->price.price_per_kwh, "Electricity, $ per kWh");
      app.add_option("--reference-prices", o->reference_prices,
                     "JSON array of {name, date, input, output} API prices ($ per million tokens) "
                     "to print beside the cost (default: list prices of July 2024)");
      app.add_flag("-q,--quiet", o->quiet, "No progress output");
      return [o] { return run_bench_cmd(*o); };
    });

}  // namespace
}  // namespace hearth::cli
