#include "caller_rows.h"

#include <sstream>

#include "error.h"

namespace vae {

void refuse_caller_rows(const CallerRows& in) {
  for (int64_t e = 0; e < in.count(); ++e) {
    const float v = in.values[e];
    if (input_value_ok(v, in.bernoulli)) continue;
    std::ostringstream m;
    m << in.name << ": row " << in.first_row + e / in.dim << ", column " << e % in.dim << " is "
      << v;
    if (input_value_ok(v, false)) {
      m << "; the Bernoulli likelihood takes data in [0, 1]";
    } else {
      m << "; data must be finite";
    }
    invalid_argument(m.str());
  }
  fail(VAE_ERROR_INTERNAL, std::string(in.name) + ": a refused value was found, then not found again (did the array change during the call?)");
}

}  // namespace vae
