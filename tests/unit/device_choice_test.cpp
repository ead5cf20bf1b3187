// Which GPU each process drives: one per rank on a machine, never two ranks on one GPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backend/cuda_device_choice.h"
#include "util/error.h"

namespace hearth {
namespace {

using ::testing::HasSubstr;

std::string refusal(int local_rank, int devices) {
  try {
    choose_cuda_device(local_rank, devices);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CudaDeviceChoice, SingleProcessTakesTheFirstGpu) {
  EXPECT_EQ(choose_cuda_device(-1, 1), 0);
  EXPECT_EQ(choose_cuda_device(-1, 8), 0);
}

TEST(CudaDeviceChoice, EachRankOnAMachineTakesItsOwnGpu) {
  EXPECT_EQ(choose_cuda_device(0, 4), 0);
  EXPECT_EQ(choose_cuda_device(1, 4), 1);
  EXPECT_EQ(choose_cuda_device(3, 4), 3);
}

TEST(CudaDeviceChoice, MoreRanksThanGpusIsRefusedNamingTheLimit) {
  const std::string e = refusal(1, 1);
  EXPECT_THAT(e, HasSubstr("this machine has 1 GPU and runs more ranks than that"));
  EXPECT_THAT(e, HasSubstr("-npernode 1"));
  EXPECT_THAT(refusal(4, 4), HasSubstr("4 GPUs"));
}

TEST(CudaDeviceChoice, NoGpuIsRefused) {
  EXPECT_THAT(refusal(-1, 0), HasSubstr("no CUDA device found"));
  EXPECT_THAT(refusal(0, 0), HasSubstr("no CUDA device found"));
}

}  // namespace
}  // namespace hearth
