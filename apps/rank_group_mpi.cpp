// The rank group of a vae-train built with MPI: MPI_COMM_WORLD when a
// launcher started this process. CPU trainers sum each step through the
// vae_mpi adapter, CUDA trainers through vae_nccl (when built), one GPU per
// rank: the rank's local index among the GPUs of its machine, unless the
// launcher chose with CUDA_VISIBLE_DEVICES.
#include <mpi.h>
#include <stdlib.h>
#include <time.h>
#include <vae/vae_mpi.h>
#if defined(VAE_TRAIN_WITH_NCCL)
#include <vae/vae_nccl.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "launcher_environment.h"
#include "rank_group.h"

namespace vae_app {
namespace {

class MpiRanks final : public RankGroup {
 public:
  MpiRanks(int* argc, char*** argv) {
    // Before MPI or libvae can start CUDA, which reads it once.
    const int local_rank = launched_local_rank();
    if (local_rank >= 0 && std::getenv("CUDA_VISIBLE_DEVICES") == nullptr) {
      setenv("CUDA_VISIBLE_DEVICES", std::to_string(local_rank).c_str(), 1);
    }
    if (MPI_Init(argc, argv) != MPI_SUCCESS) throw std::runtime_error("MPI_Init failed");
    if (vae_mpi_create(MPI_COMM_WORLD, &group_) != VAE_OK) {
      const std::string message = vae_mpi_last_error();
      MPI_Finalize();
      throw std::runtime_error(message);
    }
    MPI_Comm local = MPI_COMM_NULL;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
      MPI_Comm_size(local, &local_size_);
      MPI_Comm_free(&local);
    }
  }
  ~MpiRanks() override {
    // Rank 0 may still be evaluating or writing pictures: the others wait
    // for it here without spinning, then all finalize together.
    wait_for_all();
#if defined(VAE_TRAIN_WITH_NCCL)
    vae_nccl_destroy(nccl_);
#endif
    vae_mpi_destroy(group_);
    MPI_Finalize();
  }
  MpiRanks(const MpiRanks&) = delete;
  MpiRanks& operator=(const MpiRanks&) = delete;

  int rank() const override { return vae_mpi_rank(group_); }
  int size() const override { return vae_mpi_size(group_); }
  int local_size() const override { return local_size_; }

  void attach(vae_trainer* trainer) override {
    int64_t backend = VAE_BACKEND_CPU, device = 0;
    if (vae_get_int(trainer, VAE_OPT_BACKEND, &backend) != VAE_OK ||
        vae_get_int(trainer, VAE_OPT_DEVICE, &device) != VAE_OK) {
      throw std::runtime_error(vae_last_error());
    }
    int64_t lowest = backend, highest = backend;
    MPI_Allreduce(&backend, &lowest, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&backend, &highest, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (lowest != highest) {
      throw std::runtime_error("the ranks train on different backends (some found a GPU, some "
                               "did not): choose one with --backend");
    }
    if (backend == VAE_BACKEND_CUDA) {
      attach_nccl(trainer, static_cast<int>(device));
      return;
    }
    if (vae_mpi_attach(group_, trainer) != VAE_OK) {
      throw std::runtime_error(vae_mpi_last_error());
    }
  }

  // MPI_Barrier spins while it waits, taking a core from the rank still at
  // work; a nonblocking barrier polled every millisecond does not.
  void wait_for_all() override {
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &request) == MPI_SUCCESS) wait_without_spinning(&request);
  }

  int agree_on_stop(int signal_number) override {
    int largest = signal_number;
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Iallreduce(&signal_number, &largest, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &request) !=
            MPI_SUCCESS ||
        !wait_without_spinning(&request)) {
      throw std::runtime_error("MPI_Iallreduce failed while the ranks agreed whether to stop");
    }
    return largest;
  }

  bool leader_decides(bool decision) override {
    int value = decision ? 1 : 0;
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Ibcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD, &request) != MPI_SUCCESS ||
        !wait_without_spinning(&request)) {
      throw std::runtime_error("MPI_Ibcast failed while rank 0 told the ranks whether to stop");
    }
    return value != 0;
  }

  [[noreturn]] void abort_all(int code) override {
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
#if defined(VAE_TRAIN_WITH_NCCL)
  void attach_nccl(vae_trainer* trainer, int device) {
    if (nccl_ == nullptr && vae_nccl_create_mpi(MPI_COMM_WORLD, device, &nccl_) != VAE_OK) {
      throw std::runtime_error(vae_nccl_last_error());
    }
    if (vae_nccl_attach(nccl_, trainer) != VAE_OK) throw std::runtime_error(vae_nccl_last_error());
  }
  vae_nccl* nccl_ = nullptr;
#else
  [[noreturn]] void attach_nccl(vae_trainer*, int) {
    throw std::runtime_error(
        "the CUDA backend on several ranks needs the vae_nccl adapter, which this build lacks "
        "(NCCL was not found); use --backend cpu");
  }
#endif

  // Polls the request every millisecond; false when MPI_Test fails.
  static bool wait_without_spinning(MPI_Request* request) {
    int done = 0;
    while (done == 0) {
      if (MPI_Test(request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
      if (done == 0) {
        const timespec millisecond{0, 1000000};
        nanosleep(&millisecond, nullptr);
      }
    }
    return true;
  }

  vae_mpi* group_ = nullptr;
  int local_size_ = 1;
};

}  // namespace

std::unique_ptr<RankGroup> join_rank_group(int* argc, char*** argv) {
  if (launched_processes() == 0) return single_process();
  return std::make_unique<MpiRanks>(argc, argv);
}

}  // namespace vae_app
