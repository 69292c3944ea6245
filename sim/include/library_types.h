// The simulated toolkit's data types (library_types.h): float alone.
#pragma once

enum cudaDataType_t { CUDA_R_32F = 0 };
typedef cudaDataType_t cudaDataType;
