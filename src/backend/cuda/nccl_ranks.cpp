#include "backend/cuda/nccl_ranks.h"

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "backend/cuda/cuda_check.h"
#include "util/error.h"

namespace hearth::cuda {
namespace {

using Clock = std::chrono::steady_clock;

// A step's own kernels may keep the host waiting this long before the wait counts as a stall
// (Communicator::stalled_seconds): a long prompt chunk computes for a good fraction of a second,
// and only a wait past its end can be a rank that stopped answering.
constexpr auto kComputeGrace = std::chrono::seconds(1);

void check(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  throw Error("nccl", std::string(what) + " failed: " + ncclGetErrorString(r));
}

}  // namespace

NcclRanks::NcclRanks(Communicator& host) : host_(host) {
  ncclUniqueId id{};
  if (host.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  host.broadcast(&id, sizeof id);
  check(ncclCommInitRank(&comm_, host.size(), id, host.rank()), "ncclCommInitRank");
}

NcclRanks::~NcclRanks() {
  if (!comm_) return;
  if (aborted_) return;  // ncclCommAbort freed it
  // Every rank leaves together (rank 0's stop reaches them all), so the collective finalize
  // completes; its errors can only be ignored here.
  (void)ncclCommFinalize(comm_);
  (void)ncclCommDestroy(comm_);
}

void NcclRanks::all_reduce_sum(float* x, size_t count, cudaStream_t stream) {
  if (aborted_ || host_.aborted()) throw Error("tensor parallel", kRankLostError);
  check(ncclAllReduce(x, x, count, ncclFloat32, ncclSum, comm_, stream), "ncclAllReduce");
}

void NcclRanks::abort() noexcept {
  if (aborted_ || !comm_) return;
  aborted_ = true;
  (void)ncclCommAbort(comm_);
}

void NcclRanks::wait(cudaStream_t stream) {
  if (aborted_) throw Error("tensor parallel", kRankLostError);
  const auto t0 = Clock::now();
  std::optional<Communicator::Waiting> waiting;
  for (uint32_t polls = 1;; ++polls) {
    const cudaError_t e = cudaStreamQuery(stream);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) {
      abort();
      HEARTH_CUDA_CHECK(e);
    }
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    if (async != ncclSuccess && async != ncclInProgress) {
      const std::string why = ncclGetErrorString(async);
      abort();
      throw Error("nccl", "an all-reduce failed: " + why);
    }
    if (host_.aborted()) {
      abort();
      throw Error("tensor parallel", kRankLostError);
    }
    if ((polls & 63) == 0 && !waiting && Clock::now() - t0 > kComputeGrace) waiting.emplace(host_);
    // Spin through a decode step (milliseconds); then leave the core to the other threads.
    if (Clock::now() - t0 > std::chrono::milliseconds(20))
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace hearth::cuda
