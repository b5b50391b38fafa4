#include "data/pixels.h"

#include <stdexcept>

#include "common/counter_rng.h"
#include "common/error.h"

namespace vae {
namespace {

void check_index(const Split& split, size_t index) {
  if (index >= split.count)
    throw std::out_of_range("image index " + std::to_string(index) + " out of range, split has " +
                            std::to_string(split.count) + " images");
}

// The draw for one pixel: the project's counter RNG (common/counter_rng.h), one stream per
// epoch key, indexed by (image << 32) | pixel (unique below 2^32 images and pixels), so it
// does not depend on batch composition, order or thread.
double uniform_draw(uint64_t seed, uint64_t image, uint64_t pixel, uint64_t epoch_key) {
  return counter_uniform(seed, kStreamBinarizeBase + epoch_key, (image << 32) | pixel);
}

}  // namespace

Binarize parse_binarize(const std::string& name) {
  if (name == "none") return Binarize::None;
  if (name == "static") return Binarize::Static;
  if (name == "dynamic") return Binarize::Dynamic;
  throw Error("--binarize: unknown value '" + name + "', expected one of: none, static, dynamic");
}

std::string to_string(Binarize mode) {
  switch (mode) {
    case Binarize::None: return "none";
    case Binarize::Static: return "static";
    case Binarize::Dynamic: return "dynamic";
  }
  return "?";
}

template <typename T>
void gather_scaled(const Split& split, const std::vector<size_t>& indices, T* out) {
  const size_t dim = split.dim();
  for (size_t row = 0; row < indices.size(); ++row) {
    check_index(split, indices[row]);
    const uint8_t* src = split.pixels.data() + indices[row] * dim;
    T* dst = out + row * dim;
    for (size_t j = 0; j < dim; ++j) dst[j] = static_cast<T>(src[j]) / static_cast<T>(255);
  }
}

template <typename T>
void gather_binarized(const Split& split, const std::vector<size_t>& indices, Binarize mode, uint64_t seed,
                      uint64_t epoch, T* out) {
  if (mode == Binarize::None) return gather_scaled(split, indices, out);
  // Static uses one fixed epoch key, so its sample is drawn "once" and reused every epoch.
  const uint64_t epoch_key = mode == Binarize::Dynamic ? epoch : 0;
  const size_t dim = split.dim();
  for (size_t row = 0; row < indices.size(); ++row) {
    const size_t image = indices[row];
    check_index(split, image);
    const uint8_t* src = split.pixels.data() + image * dim;
    T* dst = out + row * dim;
    for (size_t j = 0; j < dim; ++j) {
      const double p = src[j] / 255.0;
      dst[j] = uniform_draw(seed, image, j, epoch_key) < p ? T(1) : T(0);
    }
  }
}

template void gather_scaled<float>(const Split&, const std::vector<size_t>&, float*);
template void gather_scaled<double>(const Split&, const std::vector<size_t>&, double*);
template void gather_binarized<float>(const Split&, const std::vector<size_t>&, Binarize, uint64_t, uint64_t, float*);
template void gather_binarized<double>(const Split&, const std::vector<size_t>&, Binarize, uint64_t, uint64_t,
                                       double*);

}  // namespace vae
