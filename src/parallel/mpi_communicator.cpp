#include "parallel/mpi_communicator.h"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <string>
#include <thread>

#include "util/error.h"

namespace hearth::parallel {
namespace {

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
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, x, as_count(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r),
          "all-reduce");
    wait(r, "all-reduce");
  }
  void broadcast(void* data, size_t bytes) override {
    Timed t(this, rank_ == 0 ? bytes : 0);
    MPI_Request r;
    check(MPI_Ibcast(data, as_count(bytes), MPI_BYTE, 0, MPI_COMM_WORLD, &r), "broadcast");
    wait(r, "broadcast");
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
    MPI_Request r;
    check(MPI_Igatherv(send, counts[static_cast<size_t>(rank_)], MPI_BYTE, recv, counts.data(),
                       displs.data(), MPI_BYTE, 0, MPI_COMM_WORLD, &r),
          "gather");
    wait(r, "gather");
  }
  void all_gather(const void* send, size_t bytes, void* recv) override {
    Timed t(this, bytes);
    MPI_Request r;
    check(MPI_Iallgather(send, as_count(bytes), MPI_BYTE, recv, as_count(bytes), MPI_BYTE,
                         MPI_COMM_WORLD, &r),
          "all-gather");
    wait(r, "all-gather");
  }

  void abort() override { aborted_ = true; }
  bool aborted() const override { return aborted_; }

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

  // Non-blocking collectives completed by polling, so a wait on a rank that died can be ended
  // (abort()); a blocking MPI call on shared memory would wait for ever. The poll spins while a
  // step is running (the wait for a slower rank is short), then sleeps between tests, so a rank
  // idling between steps leaves its core.
  void wait(MPI_Request& r, const char* what) {
    if (aborted_) throw Error("tensor parallel", kRankLostError);
    const auto t0 = Clock::now();
    const Waiting waiting(*this);  // stalled_seconds() counts while it lasts, however it ends
    int done = 0;
    bool patient = false;
    for (uint32_t polls = 1;; ++polls) {
      check(MPI_Test(&r, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      if (aborted_) throw Error("tensor parallel", kRankLostError);  // the request is abandoned
      if (!patient && (polls & 255) == 0)
        patient = Clock::now() - t0 > std::chrono::milliseconds(100);
      if (patient) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  int rank_ = 0, size_ = 1;
  std::atomic<bool> aborted_{false};
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
