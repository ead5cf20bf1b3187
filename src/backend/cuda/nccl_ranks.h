#pragma once
// Tensor parallelism between GPUs: one NCCL communicator over every rank, set up over the ranks'
// host communicator (MPI carries rank 0's NCCL id to the others), summing device memory on the
// backend's stream. The sums are queued with the step's kernels, so a captured decode step
// records them in its graph. A rank that dies leaves the others' NCCL kernels spinning: the host
// waits by polling, and gives up (aborting NCCL's kernels) once the host communicator is aborted.
// Built only where CMake finds NCCL.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>

#include "parallel/communicator.h"

namespace hearth::cuda {

class NcclRanks {
 public:
  // Every rank calls this together, with its own GPU current.
  explicit NcclRanks(Communicator& host);
  ~NcclRanks();
  NcclRanks(const NcclRanks&) = delete;
  NcclRanks& operator=(const NcclRanks&) = delete;

  // Queues x[0..count) summed over every rank, in place, on `stream`.
  void all_reduce_sum(float* x, size_t count, cudaStream_t stream);
  // Returns once everything queued on `stream` has run. Throws hearth::Error naming
  // kRankLostError when the host communicator was aborted first (a rank died), and NCCL's own
  // error when it reports one; NCCL is aborted either way.
  void wait(cudaStream_t stream);
  bool aborted() const { return aborted_; }

 private:
  void abort() noexcept;

  Communicator& host_;
  ncclComm_t comm_ = nullptr;
  bool aborted_ = false;
};

}  // namespace hearth::cuda
