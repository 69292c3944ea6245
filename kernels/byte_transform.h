// Turning a byte y in {0..255} into the value the model sees (DESIGN.md
// section 1): scale x = y/255; dynamic binarization x ~ Bernoulli(y/255);
// uniform dequantization x = (y + u)/256, u ~ U[0, 1). u is drawn from the
// counter-based generator, so the draw for a row depends only on the key.
#pragma once

#include <cmath>
#include <cstdint>

#include "host_device.h"

namespace vae {

enum class ByteTransform : int { kScale = 0, kBinarize = 1, kDequantize = 2 };

// u is a U[0, 1) draw with 24 random bits; it is ignored by kScale.
// Binarization compares u < y/255, so y = 0 gives 0 and y = 255 gives 1 always.
// Dequantization keeps 16 bits of u: y (8 bits) plus u then fits float's 24
// bit significand exactly, so x never rounds up out of [y/256, (y+1)/256).
template <class T>
VAE_HD T transform_byte(uint8_t y, float u, ByteTransform t) {
  switch (t) {
    case ByteTransform::kBinarize:
      return u * 255.0f < static_cast<float>(y) ? T(1) : T(0);
    case ByteTransform::kDequantize: {
      const float u16 = std::floor(u * 65536.0f) * (1.0f / 65536.0f);
      return T((static_cast<float>(y) + u16) * (1.0f / 256.0f));
    }
    default:
      return T(static_cast<float>(y) * (1.0f / 255.0f));
  }
}

}  // namespace vae
