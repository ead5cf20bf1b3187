#include "parallel/mpi_communicator.h"

#include <mpi.h>

#include <chrono>
#include <climits>
#include <string>

#include "util/error.h"

namespace hearth::parallel {
namespace {

using Clock = std::chrono::steady_clock;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error("mpi", std::string(what) + " failed: " + std::string(msg, static_cast<size_t>(len)));
}

int as_count(size_t n) {
  if (n > static_cast<size_t>(INT_MAX)) throw Error("mpi", "message larger than 2 GiB");
  return static_cast<int>(n);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // Errors come back as codes (and become hearth::Error) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(float* x, size_t count) override {
    Timed t(this, count * sizeof(float));
    check(MPI_Allreduce(MPI_IN_PLACE, x, as_count(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "all-reduce");
  }
  void broadcast(void* data, size_t bytes) override {
    Timed t(this, rank_ == 0 ? bytes : 0);
    check(MPI_Bcast(data, as_count(bytes), MPI_BYTE, 0, MPI_COMM_WORLD), "broadcast");
  }
  void gather(const void* send, const std::vector<size_t>& bytes, void* recv) override {
    Timed t(this, bytes.at(static_cast<size_t>(rank_)));
    std::vector<int> counts(bytes.size()), displs(bytes.size());
    size_t at = 0;
    for (size_t r = 0; r < bytes.size(); ++r) {
      counts[r] = as_count(bytes[r]);
      displs[r] = as_count(at);
      at += bytes[r];
    }
    check(MPI_Gatherv(send, counts[static_cast<size_t>(rank_)], MPI_BYTE, recv, counts.data(),
                      displs.data(), MPI_BYTE, 0, MPI_COMM_WORLD),
          "gather");
  }
  void all_gather(const void* send, size_t bytes, void* recv) override {
    Timed t(this, bytes);
    check(MPI_Allgather(send, as_count(bytes), MPI_BYTE, recv, as_count(bytes), MPI_BYTE,
                        MPI_COMM_WORLD),
          "all-gather");
  }

 private:
  // Adds the call's wall time and payload to the stats when it ends.
  struct Timed {
    Timed(MpiCommunicator* c, size_t bytes) : c_(c), t0_(Clock::now()) {
      c_->stats_.bytes += bytes;
      ++c_->stats_.calls;
    }
    ~Timed() { c_->stats_.seconds += std::chrono::duration<double>(Clock::now() - t0_).count(); }
    MpiCommunicator* c_;
    Clock::time_point t0_;
  };

  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv) {
  int provided = 0;
  // Only the thread that runs forward steps calls MPI (the scheduler's, or main's).
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
    throw Error("mpi", "MPI_Init_thread failed");
  return std::make_unique<MpiCommunicator>();
}

void finalize_mpi() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

}  // namespace hearth::parallel
