// Tensor parallelism under mpirun: the same logits (within 1e-5 for float weights: only the
// summation order changes; see expect_same_as_one_process for quantized ones) and the same greedy
// tokens as one process, for safetensors and GGUF, f32, Q8_0 and
// Q4_K_M, over 2 and 4 ranks; and the faults: a rank count that does not divide, ranks that see
// different files, a rank killed mid-run.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "model/gguf_export.h"
#include "support/raw_http.h"
#include "support/run_command.h"
#ifdef HEARTH_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace hearth {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace hearth::testing;
namespace fs = std::filesystem;

const std::string kData = HEARTH_TEST_DATA;

#ifdef HEARTH_TEST_MPIRUN

// Open MPI itself leaks at exit (its unloaded components' allocations), so a sanitizer build
// checks leaks in the single-process runs each test makes, not in the ranks; addresses and
// undefined behaviour are still checked there.
const std::string kLauncher = std::string("ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" ") +
                              HEARTH_TEST_MPIRUN +
                              " --allow-run-as-root --oversubscribe --mca btl self,vader";

// Every rank on this machine, as CI runs them (root, more ranks than cores).
std::string mpirun(int ranks, const std::string& args) {
  return kLauncher + " -np " + std::to_string(ranks) + " " + HEARTH_BIN + " " + args;
}

// A Llama shape small enough to run in milliseconds whose heads and FFN split 4 ways on whole
// Q4_K blocks: 4 KV heads, 8 x 128 = 1024 query columns of wo (256 a rank), 1024 FFN columns.
// The vocabulary (1001) does not divide: the first rank takes one more output row.
ModelConfig split_friendly_shape() {
  ModelConfig c = *model_shape("llama-3.2-1b");
  c.vocab_size = 1001;
  c.hidden = 256;
  c.intermediate = 1024;
  c.n_layers = 2;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.head_dim = 128;
  c.max_position = 512;
  c.tie_embeddings = false;
  c.bos_id = 1;
  c.eos_ids = {1000};
  return c;
}

class TensorParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("hearth-tp-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const ModelConfig cfg = split_friendly_shape();
    const auto tensors = random_tensors(cfg, 11);
    for (const char* type : {"f32", "q8_0", "q4_k_m"}) {
      ExportOptions o;
      o.type = *parse_export_type(type);
      o.quiet = true;
      o.threads = 1;
      write_llama_gguf(model(type), cfg, tensors, o);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string model(const std::string& type) {
    return (dir_ / ("tp-" + type + ".gguf")).string();
  }
  static fs::path dir_;
};
fs::path TensorParallel::dir_;

const std::string kPrompt = "1,17,933,402,5,88,640,12,999,300";

nlohmann::json logits(const std::string& cmd) {
  auto r = run_command(cmd);
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

double max_diff(const nlohmann::json& a, const nlohmann::json& b) {
  EXPECT_EQ(a["logits"].size(), b["logits"].size());
  double worst = 0;
  for (size_t p = 0; p < a["logits"].size(); ++p) {
    EXPECT_EQ(a["logits"][p].size(), b["logits"][p].size());
    for (size_t v = 0; v < a["logits"][p].size(); ++v)
      worst = std::max(
          worst, std::fabs(a["logits"][p][v].get<double>() - b["logits"][p][v].get<double>()));
  }
  return worst;
}

std::vector<int> greedy(const std::string& cmd) {
  auto r = run_command(cmd);
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
  if (r.exit_code != 0) return {};
  return nlohmann::json::parse(r.out)["tokens"].get<std::vector<int>>();
}

// Every position's logits and a 16-token greedy continuation, one process against `ranks`.
// Float weights: only the summation order changes, so 1e-5. Quantized weights also quantize their
// activations (Q8_0 / Q8_K blocks): a partial sum that arrives in another order can round one
// activation to the next integer step, which moved a logit by 9e-4 (Q4_K_M, 4 ranks, AVX-512),
// so 2e-3 there; the greedy continuation must still be the same.
void expect_same_as_one_process(const std::string& model, const std::string& prompt, int ranks,
                                double tolerance = 1e-5) {
  const std::string lg = "logits " + model + " -t 1 --all --tokens " + prompt;
  const std::string run = "run " + model + " -t 1 --temp 0 -n 16 --json --tokens " + prompt;
  auto one = logits(hearth_cmd(lg)), many = logits(mpirun(ranks, lg));
  ASSERT_FALSE(one.is_null());
  ASSERT_FALSE(many.is_null());
  EXPECT_LT(max_diff(one, many), tolerance) << model << " over " << ranks << " ranks";
  auto g1 = greedy(hearth_cmd(run)), gn = greedy(mpirun(ranks, run));
  EXPECT_EQ(g1.size(), 16u);
  EXPECT_EQ(g1, gn) << model << " over " << ranks << " ranks";
}

TEST_F(TensorParallel, GgufF32MatchesOneProcessOver2And4Ranks) {
  expect_same_as_one_process(model("f32"), kPrompt, 2);
  expect_same_as_one_process(model("f32"), kPrompt, 4);
}

TEST_F(TensorParallel, GgufQ8_0MatchesOneProcessOver2And4Ranks) {
  expect_same_as_one_process(model("q8_0"), kPrompt, 2, 2e-3);
  expect_same_as_one_process(model("q8_0"), kPrompt, 4, 2e-3);
}

TEST_F(TensorParallel, GgufQ4KMMatchesOneProcessOver2And4Ranks) {
  expect_same_as_one_process(model("q4_k_m"), kPrompt, 2, 2e-3);
  expect_same_as_one_process(model("q4_k_m"), kPrompt, 4, 2e-3);
}

// devB: safetensors (bf16, tied embeddings: the output head is a slice of the embedding table)
// and llama.cpp's GGUF of it, 2 KV heads.
TEST_F(TensorParallel, SafetensorsAndGgufOfDevBMatchOneProcessOver2Ranks) {
  const std::string prompt = "128000,791,3938";  // short: its rows are 128256 floats
  expect_same_as_one_process(kData + "/devB", prompt, 2);
  expect_same_as_one_process(kData + "/devB/devB-bf16.gguf", prompt, 2);
}

// hearth bench under mpirun reports rank 0's traffic into collectives, and the bytes each rank
// streams per token (its slice: about half of one process's over 2 ranks).
TEST_F(TensorParallel, BenchReportsCollectivesAndEachRanksBytes) {
  const std::string args = "bench " + model("f32") + " -p 0 -n 4 -r 1 -t 1 --json -q";
  auto one = run_command(hearth_cmd(args)), two = run_command(mpirun(2, args));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const auto j1 = nlohmann::json::parse(one.out), j2 = nlohmann::json::parse(two.out);
  EXPECT_EQ(j1["ranks"], 1);
  EXPECT_EQ(j2["ranks"], 2);
  EXPECT_FALSE(j1["results"][0].contains("comm_bytes_per_token"));
  EXPECT_GT(j2["results"][0]["comm_bytes_per_token"].get<double>(), 0.0);
  const double ratio = j2["bytes_per_token"].get<double>() / j1["bytes_per_token"].get<double>();
  EXPECT_GT(ratio, 0.45);
  EXPECT_LT(ratio, 0.55);
}

void expect_refused(const CommandResult& r, const std::string& what) {
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr(what));
  // One line from hearth (rank 0); mpirun adds its own report of the non-zero exits.
  size_t lines = 0;
  for (size_t at = 0; (at = r.err.find("hearth: error", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << r.err;
}

TEST_F(TensorParallel, RankCountThatDoesNotDivideTheKvHeadsIsRefused) {
  auto r = run_command(mpirun(3, "logits " + model("f32") + " -t 1 --tokens 1,2"));
  expect_refused(r,
                 "it has 4 KV heads and each rank needs whole KV heads, so the rank count "
                 "must divide 4");
}

// devB's FFN (160 columns) splits over 2 ranks in bf16 but not on Q8_0's 32-column blocks.
TEST_F(TensorParallel, ColumnSliceOffBlockBoundariesIsRefused) {
  const std::string q8 = (dir_ / "devB-q8.gguf").string();
  ExportOptions o;
  o.type = ExportType::Q8_0;
  o.quiet = true;
  export_checkpoint(kData + "/devB", q8, o);
  auto r = run_command(mpirun(2, "logits " + q8 + " -t 1 --tokens 128000,791"));
  expect_refused(r, "must be whole blocks of 32");
}

TEST_F(TensorParallel, RanksThatOpenDifferentFilesAreRefused) {
  const std::string args = " -t 1 --tokens 1,2";
  const std::string cmd = kLauncher + " -np 1 " + HEARTH_BIN + " logits " + model("f32") + args +
                          " : -np 1 " + HEARTH_BIN + " logits " + model("q8_0") + args;
  auto r = run_command(cmd);
  expect_refused(r, "rank 1 opened a different model than rank 0");
}

// The process ids of mpirun's children, by rank.
std::map<int, pid_t> ranks_of(pid_t launcher) {
  std::map<int, pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state;
    long ppid = 0;
    stat >> pid >> comm >> state >> ppid;
    if (ppid != launcher) continue;
    std::string env = slurp((e.path() / "environ").string());
    const std::string key = "OMPI_COMM_WORLD_RANK=";
    auto at = env.find(key);
    if (at != std::string::npos) out[std::atoi(env.c_str() + at + key.size())] = std::stoi(name);
  }
  return out;
}

// One HTTP/1.1 exchange on a fresh connection, read until the server closes it (or 30 s of
// silence); `started` turns true once the body has begun.
std::string http_exchange(int port, const std::string& body, std::atomic<bool>* started = nullptr) {
  const std::string req =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  return raw_exchange(port, req, 30, [started](const std::string& got) {
    if (started && got.find("data: {") != std::string::npos) *started = true;
    return false;
  });
}

// A server (devB: it needs a tokenizer) whose rank 1 is killed while it streams: mpirun's SIGTERM
// reaches rank 0 about a second later; the step waiting on the dead rank is abandoned, so the
// stream in flight ends with a rank_lost error event, a request sent after the kill gets a 503,
// and the job ends within seconds with a non-zero status.
TEST_F(TensorParallel, KilledRankEndsTheJobWithinSecondsAnswering503) {
  const std::string log = (dir_ / "serve.log").string();
  const std::string cmd = "exec env " +
                          mpirun(2, "serve " + kData + "/devB -t 1 --port 0 --ctx 16384") + " >" +
                          log + " 2>&1";
  pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  using Clock = std::chrono::steady_clock;
  // Both ranks up and the model loaded (the server prints its address once the engine exists).
  auto deadline = Clock::now() + std::chrono::seconds(60);
  std::map<int, pid_t> ranks;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(launcher, &status, WNOHANG) == launcher) FAIL() << "mpirun ended\n" << slurp(log);
    ranks = ranks_of(launcher);
    if (ranks.size() == 2 && slurp(log).find("listening") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(ranks.size(), 2u) << slurp(log);
  ASSERT_THAT(slurp(log), HasSubstr("listening"));
  const std::string at = slurp(log).substr(slurp(log).find("127.0.0.1:") + 10);
  const int port = std::stoi(at);
  // Thousands of tokens: still streaming seconds after the kill.
  std::atomic<bool> started{false};
  auto stream = std::async(std::launch::async, [&] {
    return http_exchange(port,
                         R"({"model":"devB","stream":true,"max_tokens":16000,"temperature":0,)"
                         R"("messages":[{"role":"user","content":"a long story"}]})",
                         &started);
  });
  for (auto until = Clock::now() + std::chrono::seconds(20); !started && Clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(started) << slurp(log);
  ::kill(ranks[1], SIGKILL);
  const auto killed = Clock::now();
  const std::string late = http_exchange(
      port, R"({"model":"devB","max_tokens":4,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_THAT(late, StartsWith("HTTP/1.1 503")) << late;
  EXPECT_THAT(late,
              AnyOf(HasSubstr("\"code\":\"rank_lost\""), HasSubstr("\"code\":\"shutting_down\"")))
      << late;
  const std::string streamed = stream.get();
  EXPECT_THAT(streamed, StartsWith("HTTP/1.1 200")) << streamed.substr(0, 300);
  EXPECT_THAT(streamed, HasSubstr("data: {\"error\":"));
  EXPECT_THAT(streamed, HasSubstr("\"code\":\"rank_lost\""));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed).count(), 10.0);
  pid_t done = 0;
  while ((done = ::waitpid(launcher, &status, WNOHANG)) == 0 &&
         Clock::now() - killed < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (done == 0) {  // still running: fail, but leave nothing behind
    ::kill(launcher, SIGKILL);
    ::kill(ranks[0], SIGKILL);
    ::waitpid(launcher, &status, 0);
    FAIL() << "mpirun still running 20 s after a rank was killed\n" << slurp(log);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - killed).count();
  EXPECT_LT(secs, 10.0);
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(log);
  EXPECT_THAT(slurp(log), HasSubstr("a tensor-parallel rank stopped answering; exiting"));
  // mpirun's SIGTERM lets rank 0's server finish its shutdown; it must be gone soon after.
  auto alive = [](pid_t p) {
    std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
    std::string pid, comm, state;
    return static_cast<bool>(stat >> pid >> comm >> state) && state != "Z";
  };
  while (alive(ranks[0]) && Clock::now() - killed < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(alive(ranks[0])) << "rank 0 outlived the job";
}

int gpus_here() {
#ifdef HEARTH_HAVE_CUDA
  return cuda_device_count();
#else
  return 0;
#endif
}

// CUDA ranks sum over NCCL, one GPU each: on a machine with fewer than two GPUs, two ranks are
// refused with the reason (no GPU, no CUDA backend, or one GPU for two ranks), and nothing hangs.
TEST_F(TensorParallel, CudaRanksWithoutAGpuEachAreRefused) {
  const int gpus = gpus_here();
  if (gpus >= 2) GTEST_SKIP() << gpus << " GPUs: CudaRanksMatchOneCudaProcess runs instead";
  auto r = run_command(mpirun(2, "logits " + model("f32") + " -t 1 --device cuda --tokens 1,2"));
  EXPECT_NE(r.exit_code, 0) << r.err;
#ifndef HEARTH_HAVE_CUDA
  EXPECT_THAT(r.err, HasSubstr("this build of hearth has no CUDA backend"));
#else
  if (gpus == 0)
    EXPECT_THAT(r.err, HasSubstr("--device cuda: no CUDA device found"));
  else
    EXPECT_THAT(r.err, HasSubstr("this machine has 1 GPU and runs more ranks than that"));
#endif
}

// Two CUDA ranks (NCCL all-reduces, recorded in the decode steps' CUDA graphs) against one CUDA
// process: the same logits up to the summation order and the same greedy tokens; bench counts
// the bytes summed and reports their time as unmeasured (it is the GPUs').
TEST_F(TensorParallel, CudaRanksMatchOneCudaProcess) {
  const int gpus = gpus_here();
  if (gpus < 2) GTEST_SKIP() << "needs 2 GPUs on this machine (found " << gpus << ")";
  for (const char* type : {"f32", "q8_0", "q4_k_m"}) {
    const std::string lg = "logits " + model(type) + " --device cuda --all --tokens " + kPrompt;
    const std::string run =
        "run " + model(type) + " --device cuda --temp 0 -n 16 --json --tokens " + kPrompt;
    auto one = logits(hearth_cmd(lg)), two = logits(mpirun(2, lg));
    ASSERT_FALSE(one.is_null());
    ASSERT_FALSE(two.is_null());
    EXPECT_LT(max_diff(one, two), std::string(type) == "f32" ? 1e-4 : 2e-3) << type;
    auto g1 = greedy(hearth_cmd(run)), g2 = greedy(mpirun(2, run));
    EXPECT_EQ(g1.size(), 16u);
    EXPECT_EQ(g1, g2) << type;
  }
  auto b =
      run_command(mpirun(2, "bench " + model("f32") + " --device cuda -p 16 -n 8 -r 1 --json -q"));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto j = nlohmann::json::parse(b.out);
  EXPECT_EQ(j["ranks"], 2);
  for (const auto& r : j["results"]) {
    EXPECT_GT(r["comm_bytes_per_token"].get<double>(), 0.0) << r;
    EXPECT_TRUE(r["comm_ms_per_token"].is_null()) << r;
  }
}

#else  // hearth built without MPI

// mpirun starting a hearth that cannot join it: every rank would run the whole model alone.
TEST(TensorParallelWithoutMpi, LaunchUnderMpirunIsRefused) {
  auto r = run_command("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 " +
                       hearth_cmd("logits " + kData + "/devB --tokens 128000"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("this hearth was built without MPI"));
  auto other = run_command("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 " +
                           hearth_cmd("logits " + kData + "/devB --tokens 128000"));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_EQ(other.err, "");  // rank 0 says it once
}

#endif

}  // namespace
}  // namespace hearth
