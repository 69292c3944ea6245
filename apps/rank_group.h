// The processes of one vae-train run: this one alone, or the ranks that
// mpirun or srun started, training one model together (vae.h,
// vae_set_allreduce). Every rank reads the data and trains its part of
// every batch; rank 0 alone prints, evaluates, plots and saves.
#ifndef VAE_APPS_RANK_GROUP_H
#define VAE_APPS_RANK_GROUP_H

#include <vae/vae.h>

#include <memory>

namespace vae_app {

class RankGroup {
 public:
  virtual ~RankGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The ranks on this machine (they share its cores).
  virtual int local_size() const = 0;
  // Makes the trainer this process's rank of the group; throws
  // std::runtime_error with the adapter's message when that fails.
  virtual void attach(vae_trainer* trainer) = 0;
  // Returns once every rank has called it, waiting without spinning.
  virtual void wait_for_all() = 0;
  // As wait_for_all, and returns the largest signal number that the ranks
  // passed (each its StopSignals::received(), 0 for none): every rank learns
  // that one caught a signal, so that they stop after the same epoch.
  virtual int agree_on_stop(int signal_number) = 0;
  // Returns rank 0's `decision` on every rank (the others' are ignored):
  // what rank 0 alone knows, as that an early stop ends the run.
  virtual bool leader_decides(bool decision) = 0;
  // Ends every rank of the run with exit status `code`: a rank that stops
  // alone would leave the others waiting in their next step.
  [[noreturn]] virtual void abort_all(int code) = 0;
};

// This process alone (rank_group.cpp).
std::unique_ptr<RankGroup> single_process();

// The group this process was started in: the MPI ranks when a launcher's
// environment says so and vae-train was built with MPI, else this process
// alone. Throws std::runtime_error when MPI fails to start, or when a
// launcher started several processes of a vae-train built without MPI.
// Defined by rank_group_mpi.cpp or rank_group_no_mpi.cpp, as the build
// found MPI or not.
std::unique_ptr<RankGroup> join_rank_group(int* argc, char*** argv);

}  // namespace vae_app

#endif  // VAE_APPS_RANK_GROUP_H
