// A picture with a caption above it: a white band with lines of text in the
// top-left corner saying what the picture shows.
#ifndef VAE_APPS_CAPTION_H
#define VAE_APPS_CAPTION_H

#include <string>
#include <vector>

#include "image.h"

namespace vae_app {

// The picture below a band holding `lines` in black, in the built-in font
// at twice its size where every line fits the picture's width, else at its
// size; a picture narrower than its longest line is widened (white on the
// right) to hold it. Keeps the picture's channel count.
Image captioned(const Image& picture, const std::vector<std::string>& lines);

}  // namespace vae_app

#endif  // VAE_APPS_CAPTION_H
