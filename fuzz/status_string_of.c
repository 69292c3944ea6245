#include "status_string_of.h"

#include "vae/vae.h"

const char* status_string_of(int status) { return vae_status_string((vae_status)status); }
