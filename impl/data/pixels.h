#pragma once
// Conversion of uint8 images to model input: scaled to [0,1], or binarized to {0,1}.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace vae {

enum class Binarize { None, Static, Dynamic };

// "none" | "static" | "dynamic"; anything else throws vae::Error listing the choices.
Binarize parse_binarize(const std::string& name);
std::string to_string(Binarize mode);

// Writes u8/255 (the pytorch/examples ToTensor convention) for the images `indices` of `split`
// into out[indices.size() * split.dim()], row-major. Throws std::out_of_range for a bad index.
template <typename T>
void gather_scaled(const Split& split, const std::vector<size_t>& indices, T* out);

// Each pixel becomes 1 with probability u8/255, else 0, from a deterministic hash of
// (seed, image index in the split, pixel, and for Dynamic also epoch): Static draws the same
// sample every epoch, Dynamic a fresh one each epoch. mode None behaves like gather_scaled.
template <typename T>
void gather_binarized(const Split& split, const std::vector<size_t>& indices, Binarize mode, uint64_t seed,
                      uint64_t epoch, T* out);

}  // namespace vae
