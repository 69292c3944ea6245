/*
 * vae_nccl: the allreduce hook of libvae's data parallelism (vae.h,
 * vae_set_allreduce) over NCCL, for trainers on the CUDA backend: each
 * step's gradient is summed by ncclAllReduce on the GPU, queued on the
 * trainer's stream. A library of its own (libvae_nccl.so), so that libvae
 * links neither NCCL nor MPI.
 *
 * One rank per GPU. The ranks need the same NCCL unique id: rank 0 draws it
 * (vae_nccl_unique_id) and hands it to the others by any means, or, as
 * llm.c does, MPI broadcasts it (vae_nccl_create_mpi, declared when <mpi.h>
 * is included before this header):
 *
 *   MPI_Init(&argc, &argv);
 *   vae_nccl* group;
 *   vae_nccl_create_mpi(MPI_COMM_WORLD, local_rank, &group);   the GPU of this rank
 *   vae_nccl_attach(group, trainer);         a CUDA trainer on that GPU
 *   ... vae_train_epoch(trainer, ds, batch, &loss) on every rank ...
 *   vae_destroy(trainer); vae_nccl_destroy(group); MPI_Finalize();
 *
 * Steps with a hook are not captured into CUDA graphs (the hook is called
 * from the host between the step's launches), so each step pays its kernel
 * launches (docs/scaling.md). C99; also compiles as C++.
 */
#ifndef VAE_VAE_NCCL_H
#define VAE_VAE_NCCL_H

#include <vae/vae.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vae_nccl vae_nccl; /* opaque: an NCCL communicator on one GPU */

/* Bytes of an NCCL unique id (ncclUniqueId). */
#define VAE_NCCL_ID_BYTES 128

/* Draws a new unique id (on rank 0; every rank then passes it to
 * vae_nccl_create). VAE_ERROR_DEVICE with NCCL's message on failure. */
VAE_API vae_status vae_nccl_unique_id(unsigned char id[VAE_NCCL_ID_BYTES]);
/* Joins the communicator of `id` as rank `rank` of `world_size` (1..4096) on
 * CUDA device `device`; every rank calls it, and it returns once all have
 * (collective). VAE_ERROR_INVALID_ARGUMENT for a bad rank, size or device,
 * VAE_ERROR_DEVICE with NCCL's or CUDA's message when they fail. The
 * calling thread's current device is left as it was. */
VAE_API vae_status vae_nccl_create(const unsigned char id[VAE_NCCL_ID_BYTES], int world_size,
                                   int rank, int device, vae_nccl** out);
/* Destroys the communicator after the work queued on it. NULL: no-op. */
VAE_API void vae_nccl_destroy(vae_nccl* n);
VAE_API int vae_nccl_rank(const vae_nccl* n); /* this rank, or -1 for NULL      */
VAE_API int vae_nccl_size(const vae_nccl* n); /* the number of ranks, or -1     */

/* Makes t rank vae_nccl_rank(n) of vae_nccl_size(n): sets VAE_OPT_WORLD_SIZE,
 * VAE_OPT_RANK and the allreduce hook vae_nccl_allreduce with n. t must be a
 * trainer of the CUDA backend on n's device (VAE_ERROR_INVALID_ARGUMENT
 * otherwise), and n must outlive t's training. On failure t is unchanged. */
VAE_API vae_status vae_nccl_attach(vae_nccl* n, vae_trainer* t);

/* The hook (a vae_allreduce_fn; user_data is the vae_nccl): ncclAllReduce
 * of the count floats in place, summed, queued on `stream`, then a check of
 * the communicator's asynchronous error. GPU memory only: a host buffer
 * returns VAE_ERROR_UNSUPPORTED (use vae_mpi); an NCCL failure returns
 * VAE_ERROR_DEVICE with NCCL's message. */
VAE_API int vae_nccl_allreduce(void* user_data, float* buffer, int64_t count, int on_device,
                               void* stream, char* message, size_t message_size);

/* This thread's message for the last failed vae_nccl_* call, or "". */
VAE_API const char* vae_nccl_last_error(void);

#if defined(MPI_VERSION)
/* The unique id drawn on rank 0 of comm and broadcast over it (MPI_Bcast),
 * then vae_nccl_create with comm's size and rank on `device`. Collective
 * over comm; MPI must be initialized. VAE_ERROR_IO when MPI fails. */
VAE_API vae_status vae_nccl_create_mpi(MPI_Comm comm, int device, vae_nccl** out);
#endif

#ifdef __cplusplus
}
#endif

#endif /* VAE_VAE_NCCL_H */
