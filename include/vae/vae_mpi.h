/*
 * vae_mpi: the allreduce hook of libvae's data parallelism (vae.h,
 * vae_set_allreduce) over MPI, for trainers on the CPU backend: each step's
 * gradient is summed by MPI_Allreduce on host memory. A library of its own
 * (libvae_mpi.so), so that libvae links no MPI.
 *
 *   MPI_Init(&argc, &argv);
 *   vae_mpi* group;
 *   vae_mpi_create(MPI_COMM_WORLD, &group);     every rank, like any collective
 *   vae_mpi_attach(group, trainer);             world size, rank and hook
 *   ... vae_train_epoch(trainer, ds, batch, &loss) on every rank ...
 *   vae_mpi_destroy(group);                     after the trainer's last step
 *   MPI_Finalize();
 *
 * MPI must be initialized (MPI_THREAD_FUNNELED is enough when the trainer
 * trains on the thread that initialized it; a trainer trained from other
 * threads needs MPI_THREAD_SERIALIZED or more). C99; also compiles as C++.
 */
#ifndef VAE_VAE_MPI_H
#define VAE_VAE_MPI_H

#include <mpi.h>
#include <vae/vae.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vae_mpi vae_mpi; /* opaque: a duplicate of a communicator */

/* Duplicates comm (collective over comm: every rank calls it) and makes
 * errors on the duplicate return rather than abort. The ranks of comm are
 * the trainers' ranks. VAE_ERROR_INVALID_ARGUMENT when MPI is not
 * initialized or comm is MPI_COMM_NULL, VAE_ERROR_UNSUPPORTED for more than
 * 4096 ranks, VAE_ERROR_IO when MPI fails. */
VAE_API vae_status vae_mpi_create(MPI_Comm comm, vae_mpi** out);
/* Frees the duplicate (collective; nothing once MPI is finalized). NULL: no-op. */
VAE_API void vae_mpi_destroy(vae_mpi* m);
VAE_API int vae_mpi_rank(const vae_mpi* m); /* this process's rank, or -1 for NULL */
VAE_API int vae_mpi_size(const vae_mpi* m); /* the number of ranks, or -1 for NULL */

/* Makes t rank vae_mpi_rank(m) of vae_mpi_size(m): sets VAE_OPT_WORLD_SIZE,
 * VAE_OPT_RANK and the allreduce hook vae_mpi_allreduce with m. m must
 * outlive t's training. On failure t is unchanged and vae_mpi_last_error()
 * says why. */
VAE_API vae_status vae_mpi_attach(vae_mpi* m, vae_trainer* t);

/* The hook (a vae_allreduce_fn; user_data is the vae_mpi):
 * MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM) in pieces
 * of at most INT_MAX floats. Host memory only: a buffer on the GPU
 * (on_device) returns VAE_ERROR_UNSUPPORTED (use vae_nccl); an MPI failure
 * returns VAE_ERROR_IO with MPI's message. */
VAE_API int vae_mpi_allreduce(void* user_data, float* buffer, int64_t count, int on_device,
                              void* stream, char* message, size_t message_size);

/* This thread's message for the last failed vae_mpi_* call, or "". */
VAE_API const char* vae_mpi_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* VAE_VAE_MPI_H */
