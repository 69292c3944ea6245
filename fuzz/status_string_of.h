// vae_status_string called as a C program calls it, with any int: in C an
// enum argument may hold any value of int, which C++ cannot express without
// undefined behaviour of its own.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

const char* status_string_of(int status);

#ifdef __cplusplus
}
#endif
