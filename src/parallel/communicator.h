#pragma once
// The collectives tensor parallelism needs, as the one small interface the model calls. The model
// never names MPI or NCCL: world.cpp picks the implementation (mpi_communicator.cpp when hearth is
// built with MPI and started by mpirun). Buffers are the backend's device memory; the MPI
// implementation serves the CPU backend, where that is host memory.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth {

// What a collective throws once abort() was called: the text the server recognizes to answer 503.
inline constexpr const char* kRankLostError = "a tensor-parallel rank stopped answering";

// Time and traffic spent in collectives since the process started (bench reports it per token).
struct CommStats {
  double seconds = 0;
  uint64_t bytes = 0;  // payload this rank sent into collectives
  uint64_t calls = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // x[0..count) summed over every rank, in place; every rank gets the same bits.
  virtual void all_reduce_sum(float* x, size_t count) = 0;
  // Rank 0's `bytes` at `data` copied to every other rank's `data`.
  virtual void broadcast(void* data, size_t bytes) = 0;
  // Every rank's `bytes[rank]` bytes from `send` to rank 0's `recv`, in rank order (recv is read
  // on rank 0 only and holds the sum of `bytes`).
  virtual void gather(const void* send, const std::vector<size_t>& bytes, void* recv) = 0;
  // Every rank's `bytes` from `send` to every rank's `recv`, in rank order.
  virtual void all_gather(const void* send, size_t bytes, void* recv) = 0;

  // Ends the wait of a collective that cannot complete (a rank died): the one in progress and
  // every later one throw hearth::Error naming kRankLostError. Safe from any thread.
  virtual void abort() {}
  virtual bool aborted() const { return false; }
  // How long the collective in progress has waited so far (0 when none is in progress); safe
  // from any thread. A rank that died leaves the others waiting for ever.
  virtual double stalled_seconds() const { return 0; }

  const CommStats& stats() const { return stats_; }

 protected:
  CommStats stats_;
};

}  // namespace hearth
