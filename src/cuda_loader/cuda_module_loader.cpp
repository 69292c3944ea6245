// libvae's side of the CUDA module (src/cuda_module.h), in a build with the
// CUDA backend: finds libvae_cuda.so, loads it once per process, checks its
// ABI number and build tag, and answers backend_factory.h's questions
// through its table. The module is looked for
//   1. at the path VAE_CUDA_MODULE names, when that is set (and only there;
//      secure_getenv, so not for set-user-ID programs);
//   2. beside the object that holds this code (libvae.so; dladdr);
//   3. by its file name, on the dynamic loader's search path.
// A module once loaded stays loaded: the trainers it makes, their virtual
// functions and the exceptions they throw live in it.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "backend_factory.h"
#include "cuda_module.h"
#include "device_pointer.h"
#include "error.h"
#include "module_file.h"
#include "trainer.h"
#include "vae_build_tag.h"

namespace vae {
namespace {

struct CudaModule {
  const CudaBackendTable* table = nullptr;
  std::string failure;  // where table is null: why, as one sentence
};

std::string loader_error() {
  const char* message = dlerror();
  return message != nullptr ? message : "unknown error";
}

// The path of the object that holds this code: libvae.so, or the program
// that links the core statically (the tests).
std::string own_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&own_path), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  return info.dli_fname;
}

CudaModule refuse(const std::string& why) {
  CudaModule m;
  m.failure = kCudaUnavailable + why;
  return m;
}

// dlopen of the module at `path` (a file name alone: on the search path).
// On failure, the sentence that says so. A path is checked first
// (module_file.h): a FIFO would block dlopen forever, and glibc reports an
// object of another architecture as "No such file or directory".
void* open_module(const std::string& path, std::string* failure) {
  if (path.find('/') != std::string::npos) {
    const std::string problem = module_file_problem(path);
    if (!problem.empty()) {
      *failure = path + " could not be loaded: it " + problem;
      return nullptr;
    }
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) *failure = path + " could not be loaded (" + loader_error() + ")";
  return handle;
}

// The module's handle, from the places the file's comment lists.
void* find_module(std::string* where, std::string* failure) {
  // secure_getenv: a set-user-ID or set-group-ID program that links libvae
  // does not load a module its caller's environment names.
  if (const char* chosen = secure_getenv("VAE_CUDA_MODULE"); chosen != nullptr && *chosen != '\0') {
    *where = chosen;
    void* handle = open_module(chosen, failure);
    if (handle == nullptr) *failure = "VAE_CUDA_MODULE=" + *failure;
    return handle;
  }
  const std::string library = own_path();
  const size_t slash = library.rfind('/');
  const std::string folder = slash == std::string::npos ? "" : library.substr(0, slash + 1);
  if (!folder.empty()) {
    *where = folder + VAE_CUDA_MODULE_FILE;
    // Found beside libvae.so, the module is the one: a failure to load it
    // (the CUDA runtime missing, say) is reported, not passed over.
    if (access(where->c_str(), F_OK) == 0) return open_module(*where, failure);
  }
  *where = VAE_CUDA_MODULE_FILE;
  void* handle = dlopen(VAE_CUDA_MODULE_FILE, RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) return handle;
  const std::string error = loader_error();
  if (error.rfind(VAE_CUDA_MODULE_FILE ":", 0) == 0) {
    *failure = VAE_CUDA_MODULE_FILE " was not found beside " + library.substr(slash + 1) +
               " (in " + (folder.empty() ? std::string("an unknown folder") : folder) +
               ") nor on the library search path (" + error + ")";
  } else {
    *failure = VAE_CUDA_MODULE_FILE " on the library search path could not be loaded (" + error + ")";
  }
  return nullptr;
}

CudaModule load_module() {
  std::string where, failure;
  void* handle = find_module(&where, &failure);
  if (handle == nullptr) return refuse(failure);
  dlerror();
  const auto entry = reinterpret_cast<vae_cuda_backend_entry>(dlsym(handle, VAE_CUDA_MODULE_ENTRY));
  if (entry == nullptr) {
    return refuse(where + " is not a CUDA module of this version of libvae (it has no " +
                  VAE_CUDA_MODULE_ENTRY + ")");
  }
  const CudaBackendTable* table = entry();
  // The tag is read only from a table of this layout.
  if (table == nullptr || table->abi != kCudaModuleAbi ||
      std::strcmp(table->build, VAE_BUILD_TAG) != 0) {
    MessageStream m;
    m << where << " is from another build of libvae (module ABI "
      << (table != nullptr ? std::to_string(table->abi) : "unknown") << ", build "
      << (table != nullptr && table->abi == kCudaModuleAbi ? table->build : "unknown")
      << "; this libvae needs ABI " << kCudaModuleAbi << ", build " << VAE_BUILD_TAG
      << "): install libvae.so and " << VAE_CUDA_MODULE_FILE << " from one build";
    return refuse(m.str());
  }
  CudaModule m;
  m.table = table;
  return m;
}

// Loaded the first time it is asked for, once for the process and all its
// threads.
const CudaModule& cuda_module() {
  static const CudaModule module = load_module();
  return module;
}

// Whether the process has loaded the NVIDIA driver's library: without it
// there is no device memory, so no pointer needs the module's answer.
// Whether the library that owns device memory (the NVIDIA driver, or the
// simulated device of a VAE_CUDA_SIMULATOR build) is in the process: no
// pointer is device memory before it is.
bool driver_loaded() {
  void* driver = dlopen(VAE_CUDA_DRIVER_LIBRARY, RTLD_LAZY | RTLD_NOLOAD);
  if (driver == nullptr) return false;
  dlclose(driver);
  return true;
}

}  // namespace

std::unique_ptr<Trainer> make_cuda_trainer(const Config& config) {
  const CudaModule& m = cuda_module();
  if (m.table == nullptr) fail(VAE_ERROR_DEVICE, m.failure);
  return m.table->create_trainer(config);
}

bool cuda_device_available() {
  const CudaModule& m = cuda_module();
  return m.table != nullptr && m.table->device_count(nullptr) > 0;
}

bool pointer_is_device(const void* p) {
  if (p == nullptr || !driver_loaded()) return false;
  const CudaModule& m = cuda_module();
  return m.table != nullptr && m.table->pointer_is_device(p);
}

}  // namespace vae
