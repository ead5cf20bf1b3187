#pragma once
// The collectives tensor parallelism needs, as the one small interface the model calls. The model
// never names MPI or NCCL: world.cpp picks the implementation (mpi_communicator.cpp when hearth is
// built with MPI and started by mpirun). Its buffers are host memory. The model's all-reduce goes
// through the backend (Backend::all_reduce_sum): the CPU backend hands its host memory to this
// communicator, the CUDA backend sums device memory with NCCL, set up over this communicator.
#include <atomic>
#include <chrono>
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
  // Some collectives ran on a GPU's stream (NCCL), queued with the kernels: their time is the
  // GPU's and is not in `seconds`.
  bool device_side = false;
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
  double stalled_seconds() const {
    const int64_t since = waiting_since_ns_.load();
    if (since == 0) return 0;
    return static_cast<double>(Clock::now().time_since_epoch().count() - since) * 1e-9;
  }

  // Held while this rank waits on the others, by the communicator's own collectives and by a
  // backend waiting for a device-side collective (NCCL): stalled_seconds() counts from its start.
  class Waiting {
   public:
    explicit Waiting(Communicator& c) : c_(c) {
      c_.waiting_since_ns_ = Clock::now().time_since_epoch().count();
    }
    ~Waiting() { c_.waiting_since_ns_ = 0; }
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;

   private:
    Communicator& c_;
  };

  // A collective a backend queued on its device (an NCCL all-reduce) of `bytes` payload.
  void count_device_collective(uint64_t bytes) {
    stats_.bytes += bytes;
    ++stats_.calls;
    stats_.device_side = true;
  }

  const CommStats& stats() const { return stats_; }

 protected:
  using Clock = std::chrono::steady_clock;
  CommStats stats_;

 private:
  std::atomic<int64_t> waiting_since_ns_{0};
};

}  // namespace hearth
