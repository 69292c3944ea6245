/* Calls made the way a C program makes them, where a C++ test could not
 * without undefined behaviour of its own. */
#include "vae/vae.h"

/* Any int converts to the enum in C. */
const char* vae_test_status_string_of(int code) { return vae_status_string((vae_status)code); }
