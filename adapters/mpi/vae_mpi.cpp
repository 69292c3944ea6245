// vae_mpi: libvae's allreduce hook over MPI (include/vae/vae_mpi.h).
#include "vae/vae_mpi.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <new>
#include <string>

#include "adapter_error.h"
#include "rank_options.h"

struct vae_mpi {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
};

namespace {

using vae_adapters::kMaxRanks;
constexpr char kAdapterName[] = "vae_mpi";
using Error = vae_adapters::AdapterError<kAdapterName>;
constexpr auto failed = &Error::failed;
constexpr auto succeeded = &Error::succeeded;

// MPI's text for an error code.
std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return "MPI error " + std::to_string(code);
  }
  return std::string(text, static_cast<size_t>(std::max(length, 0)));
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized != 0 && finalized == 0;
}

vae_status create(MPI_Comm comm, vae_mpi** out) {
  if (out == nullptr) return failed(VAE_ERROR_INVALID_ARGUMENT, "out: NULL");
  if (!mpi_running()) {
    return failed(VAE_ERROR_INVALID_ARGUMENT, "MPI is not initialized (call MPI_Init first)");
  }
  if (comm == MPI_COMM_NULL) return failed(VAE_ERROR_INVALID_ARGUMENT, "comm: MPI_COMM_NULL");
  auto m = std::unique_ptr<vae_mpi>(new (std::nothrow) vae_mpi);
  if (!m) return failed(VAE_ERROR_OUT_OF_MEMORY, "out of host memory");
  int code = MPI_Comm_dup(comm, &m->comm);
  if (code != MPI_SUCCESS) return failed(VAE_ERROR_IO, "MPI_Comm_dup: " + mpi_error(code));
  code = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  if (code == MPI_SUCCESS) code = MPI_Comm_rank(m->comm, &m->rank);
  if (code == MPI_SUCCESS) code = MPI_Comm_size(m->comm, &m->size);
  if (code != MPI_SUCCESS) {
    MPI_Comm_free(&m->comm);
    return failed(VAE_ERROR_IO, "the duplicate communicator: " + mpi_error(code));
  }
  if (m->size > kMaxRanks) {
    MPI_Comm_free(&m->comm);
    return failed(VAE_ERROR_UNSUPPORTED, "comm has " + std::to_string(m->size) +
                                             " ranks; libvae trains on at most " +
                                             std::to_string(kMaxRanks));
  }
  *out = m.release();
  return succeeded();
}

}  // namespace

extern "C" {

vae_status vae_mpi_create(MPI_Comm comm, vae_mpi** out) {
  try {
    return create(comm, out);
  } catch (const std::bad_alloc&) {
    return failed(VAE_ERROR_OUT_OF_MEMORY, "out of host memory");
  }
}

void vae_mpi_destroy(vae_mpi* m) {
  const std::unique_ptr<vae_mpi> owned(m);
  if (m != nullptr && m->comm != MPI_COMM_NULL && mpi_running()) MPI_Comm_free(&m->comm);
}

int vae_mpi_rank(const vae_mpi* m) { return m != nullptr ? m->rank : -1; }

int vae_mpi_size(const vae_mpi* m) { return m != nullptr ? m->size : -1; }

vae_status vae_mpi_attach(vae_mpi* m, vae_trainer* t) {
  if (m == nullptr) return failed(VAE_ERROR_INVALID_ARGUMENT, "m: NULL");
  vae_status status = vae_adapters::set_rank_options(t, m->rank, m->size);
  if (status == VAE_OK) status = vae_set_allreduce(t, &vae_mpi_allreduce, m);
  if (status != VAE_OK) return failed(status, vae_last_error());
  return succeeded();
}

int vae_mpi_allreduce(void* user_data, float* buffer, int64_t count, int on_device, void*,
                      char* message, size_t message_size) {
  const auto* m = static_cast<const vae_mpi*>(user_data);
  const auto report = [&](vae_status status, const char* text, const char* detail = "") {
    if (message != nullptr && message_size > 0) {
      std::snprintf(message, message_size, "vae_mpi: %s%s", text, detail);
    }
    return status;
  };
  if (m == nullptr || buffer == nullptr || count < 0) {
    return report(VAE_ERROR_INVALID_ARGUMENT, "no communicator or no buffer");
  }
  if (on_device != 0) {
    return report(VAE_ERROR_UNSUPPORTED,
                  "MPI sums host memory; a trainer on the GPU takes vae_nccl's hook");
  }
  for (int64_t done = 0; done < count;) {
    const int piece = static_cast<int>(std::min<int64_t>(count - done, INT_MAX));
    const int code =
        MPI_Allreduce(MPI_IN_PLACE, buffer + done, piece, MPI_FLOAT, MPI_SUM, m->comm);
    if (code != MPI_SUCCESS) {
      char text[MPI_MAX_ERROR_STRING] = {};
      int length = 0;
      MPI_Error_string(code, text, &length);
      return report(VAE_ERROR_IO, "MPI_Allreduce: ", text);
    }
    done += piece;
  }
  return VAE_OK;
}

const char* vae_mpi_last_error(void) { return Error::last(); }

}  // extern "C"
