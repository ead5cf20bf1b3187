#include "backend/cuda_device_choice.h"

#include <string>

#include "util/error.h"

namespace hearth {

int choose_cuda_device(int local_rank, int device_count) {
  if (device_count <= 0) throw Error("--device cuda", "no CUDA device found");
  if (local_rank < 0) return 0;
  if (local_rank >= device_count)
    throw Error("--device cuda",
                "this machine has " + std::to_string(device_count) + " GPU" +
                    (device_count == 1 ? "" : "s") +
                    " and runs more ranks than that (this is its rank " +
                    std::to_string(local_rank) +
                    " counting from 0): tensor parallelism over CUDA needs one GPU per rank; start "
                    "at most " +
                    std::to_string(device_count) + " ranks per machine (mpirun -npernode " +
                    std::to_string(device_count) + ")");
  return local_rank;
}

}  // namespace hearth
