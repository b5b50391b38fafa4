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

// Counter-based uniform draw in [0,1), reproducible on every platform and independent of thread or
// batch order (splitmix64 from common/counter_rng.h):
//   h = splitmix64(seed ^ splitmix64((image << 32) | pixel) ^ splitmix64(epoch_key + 0x9E3779B97F4A7C15))
//   u = (h >> 11) * 2^-53   (the top 53 bits, exactly representable in a double)
// (image << 32) | pixel is unique per pixel for images and pixels below 2^32.
double uniform_draw(uint64_t seed, uint64_t image, uint64_t pixel, uint64_t epoch_key) {
  const uint64_t h =
      splitmix64(seed ^ splitmix64((image << 32) | pixel) ^ splitmix64(epoch_key + 0x9E3779B97F4A7C15ull));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace

Binarize parse_binarize(const std::string& name) {
  if (name == "none") return Binarize::None;
  if (name == "static") return Binarize::Static;
  if (name == "dynamic") return Binarize::Dynamic;
  throw Error("unknown binarization '" + name + "', expected one of: none, static, dynamic");
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
