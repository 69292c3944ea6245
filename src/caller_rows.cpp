#include "caller_rows.h"


#include "error.h"

namespace vae {

void refuse_caller_value(const CallerRows& in, int64_t e, float v) {
  MessageStream m;
  m << in.name << ": row " << in.first_row + e / in.dim << ", column " << e % in.dim << " is " << v;
  if (input_value_ok(v, false)) {
    m << "; the Bernoulli likelihood takes data in [0, 1]";
  } else {
    m << "; data must be finite";
  }
  invalid_argument(m.str());
}

void refuse_caller_rows(const CallerRows& in) {
  for (int64_t e = 0; e < in.count(); ++e) {
    if (!input_value_ok(in.values[e], in.bernoulli)) refuse_caller_value(in, e, in.values[e]);
  }
  fail(VAE_ERROR_INTERNAL, std::string(in.name) + ": a refused value was found, then not found again (did the array change during the call?)");
}

}  // namespace vae
