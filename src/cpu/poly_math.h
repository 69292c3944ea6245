// The CPU backend's float exp and log1p for the likelihood loop: short
// polynomials with no branch and no call, so a loop over a row of logits
// vectorizes (glibc's expf and logf are calls the compiler cannot). They
// plug into the shared formulas of kernels/element_math.h as its Math
// policy (bernoulli_nll_and_grad<float, PolyMath>), so the formula stays the
// one the CUDA kernels compute with std::exp and std::log.
//
// Error bounds (derived below; tests/test_poly_math.cpp checks them against
// long double over dense sweeps):
//   exp_nonpositive(x), x in [-104, 0]: within 2 ulp of e^x where e^x is a
//     normal float, within 2^-149 below that; e^x < 2^-150 for x < -104,
//     where it returns e^-104 (about 6.8e-46, so 0 in float);
//   log1p_unit(e), e in [0, 1]: within 2 ulp of log(1 + e).
// NaN in gives NaN out.
#pragma once

#include <cstdint>
#include <cstring>

namespace vae {

struct PolyMath {
  // e^x for x <= 0. x = k ln 2 + r with k = round(x / ln 2), |r| <= ln(2)/2 +
  // 2^-10: ln 2 is split Cody-Waite style into 0.693359375 (9 bits, so k
  // times it is exact for |k| <= 2^15 and x - k ln2_hi is exact by Sterbenz)
  // and the rest. e^r is its Taylor polynomial of degree 7, whose remainder
  // is below e^0.35 0.35^8 / 8! < 8e-9, i.e. 1.1e-8 relative to e^r >= 0.7
  // (0.1 ulp); the evaluation's roundings add at most about 1.5 ulp. 2^k is
  // applied as two normal powers of two, 2^k1 2^k2, so results down to the
  // subnormals are rounded once, at the last product.
  static float exp_nonpositive(float x) {
    x = x < -104.0f ? -104.0f : x;  // a NaN stays a NaN
    // 1.5 * 2^23 + y rounds y to the nearest integer k, held in the low bits.
    const float shifted = x * 1.44269504088896341f + 12582912.0f;
    const float k = shifted - 12582912.0f;
    const float r = (x - k * 0.693359375f) - k * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // k + 150 in [0, 150] for x in [-104, 0]; unsigned so that a NaN's
    // arbitrary bits are no undefined behaviour (the product stays NaN).
    const uint32_t biased = bits(shifted) - 0x4B400000u + 150u;
    const uint32_t half = biased >> 1;
    // 2^(half - 75) and 2^(biased - half - 75): exponents 52 + ... in [52, 127].
    return p * from_bits((half + 52u) << 23) * from_bits((biased - half + 52u) << 23);
  }

  // log(1 + e) for e in [0, 1], as 2 atanh(t) with t = e / (2 + e) in
  // [0, 1/3]: 2t + 2t w (1/3 + w/5 + ... + w^5/13), w = t^2 <= 1/9. The
  // series' tail is below w^7 / 15 * 9/8 < 1.6e-8 relative; t carries two
  // roundings and the correction, under 4% of the sum, a few more scaled
  // by that 4%, so the relative error stays below 2.2e-7 (the sweep's worst
  // is 1.94 ulp).
  static float log1p_unit(float e) {
    const float t = e / (2.0f + e);
    const float w = t * t;
    float q = 1.0f / 13.0f;
    q = q * w + 1.0f / 11.0f;
    q = q * w + 1.0f / 9.0f;
    q = q * w + 1.0f / 7.0f;
    q = q * w + 1.0f / 5.0f;
    q = q * w + 1.0f / 3.0f;
    const float t2 = 2.0f * t;
    return t2 + t2 * (w * q);
  }

 private:
  static uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
  }
  static float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
};

}  // namespace vae
