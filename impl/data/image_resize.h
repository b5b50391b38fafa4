#pragma once
// An RGB image to model input: a centred square crop, shrunk by area averaging, stored
// channel-major (NCHW: all R, then all G, then all B) as the convolutional models read it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_decode.h"

namespace vae {

// The crop's top-left corner: floor((width - crop) / 2), floor((height - crop) / 2); for CelebA's
// 178x218 aligned faces and crop 148 that is (15, 35), torchvision's CenterCrop(148) too.
size_t crop_offset(size_t extent, size_t crop);

// Writes out[3 * size * size]. The filter is the exact area average ("box" in PIL, INTER_AREA's
// intent): output pixel (oy, ox) covers the source square [ox*c/s, (ox+1)*c/s) x [oy*c/s, (oy+1)*c/s)
// of the crop (c = crop, s = size), each source pixel weighs the area of it that falls inside,
// and the weighted mean is rounded half up. In integers throughout (weights in units of 1/s,
// sums below 255 * c^2 in 64 bits), so every machine gives the same bytes, and a solid colour
// comes out exactly. Why area and not bilinear: shrinking 148 -> 64 (2.3x), every source pixel
// should count, in proportion; a bilinear kernel needs an antialiasing width to do that, whose
// float weights and edge handling differ between libraries (torchvision's Resize(64) with
// antialias gives values within a few levels of ours, not the same bytes).
// Requires 1 <= size <= crop <= min(width, height): throws vae::Error otherwise.
void crop_resize_chw(const RgbImage& image, size_t crop, size_t size, uint8_t* out);

// One file's bytes to model input: decode (refusing, before decoding, an image whose smaller
// side is under `crop`: "<name>: image is 100x80, smaller than the 148x148 centre crop
// (--image-crop)"), crop and resize. Returns 3 * size * size bytes.
std::vector<uint8_t> image_to_chw(const uint8_t* data, size_t size, const std::string& name, size_t crop,
                                  size_t out_size);

}  // namespace vae
