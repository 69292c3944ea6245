// vae_nccl_create_mpi under mpirun -np 2 when one rank's device is refused:
// every rank returns an error at once, and none waits in ncclCommInitRank
// for a rank that will never join (before, rank 0 blocked there forever:
// the ctest timeout fails the test). Skipped on every rank where there is no
// CUDA device; on the simulated device the refusal is all it can show (its
// NCCL joins ranks that are threads of one process).
#include <gtest/gtest.h>
#include <cuda_runtime_api.h>
#include <mpi.h>

#include <string>

#include "mpi_test_support.h"
#include "vae/vae.h"
#include "vae/vae_nccl.h"

namespace {

using vae_mpi_test::rank;

TEST(NcclMpi, ARankWhoseDeviceIsRefusedStopsEveryRankBeforeTheInit) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    static_cast<void>(cudaGetLastError());
    GTEST_SKIP() << "no CUDA device";
  }
  const int device = rank() == 1 ? devices + 98 : 0;
  vae_nccl* n = nullptr;
  const vae_status s = vae_nccl_create_mpi(MPI_COMM_WORLD, device, &n);
  const std::string said = vae_nccl_last_error();
  EXPECT_EQ(n, nullptr);
  if (rank() == 1) {
    EXPECT_EQ(s, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(said.find("device: must be in"), std::string::npos) << said;
  } else {
    EXPECT_EQ(s, VAE_ERROR_DEVICE);
    EXPECT_NE(said.find("another rank refused"), std::string::npos) << said;
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
