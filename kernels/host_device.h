// VAE_HD marks functions compiled for both the host and the device, so the
// per-element mathematics is written once and the CPU backend checks the GPU.
#pragma once

#if defined(__CUDACC__)
#define VAE_HD __host__ __device__ __forceinline__
#else
#define VAE_HD inline
#endif
