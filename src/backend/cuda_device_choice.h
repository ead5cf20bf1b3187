#pragma once
// Which GPU a process drives. Under mpirun each rank on a machine takes its own GPU, by its rank
// among that machine's ranks: NCCL refuses two ranks on one device, and sharing one would halve
// each rank's memory and bandwidth anyway.

namespace hearth {

// The device index for a process that is `local_rank` among its machine's ranks (-1: not started
// by mpirun) on a machine with `device_count` GPUs. Throws hearth::Error naming the limit when
// the machine has fewer GPUs than ranks.
int choose_cuda_device(int local_rank, int device_count);

}  // namespace hearth
