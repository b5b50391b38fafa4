// The data family's public entry points: argument checks, then the build for the stream's
// device (Kind::emu: the host-compiled kernels; Kind::cuda: the nvcc build).
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/family_dispatch.h"
#include "kernels/data.h"
#include "kernels/data_targets.h"

namespace vae::kernels::data {

Version version_from_int(int v) { return checked_version<Version>("data", v, kFirstVersion, kLastVersion); }

const char* version_name(Version v) {
  switch (v) {
    case Version::per_element: return "v1 per-element";
  }
  return "?";
}

namespace {

[[noreturn]] void bad(const char* call, const std::string& what) {
  throw vae::Error(std::string("data ") + call + ": " + what);
}


}  // namespace

void validate(Version v, const GatherArgs& a) {
  version_from_int(int(v));
  if (a.batch < 1 || a.pixels < 1)
    bad("gather", "batch and pixels must be >= 1 (got " + std::to_string(a.batch) + ", " + std::to_string(a.pixels) + ")");
  if (!a.images || a.image_count < 1) bad("gather", "no resident images");
  if (a.image_count > (std::size_t(1) << 32) || std::size_t(a.pixels) > (std::size_t(1) << 32))
    bad("gather", "the binarization draw indexes (image << 32) | pixel: at most 2^32 images and pixels");
  if (!a.order || a.order_count < 1) bad("gather", "no epoch order");
  if (!a.cursor) bad("gather", "cursor is null");
  if ((a.x == nullptr) == (a.x_bytes == nullptr)) bad("gather", "give exactly one output, x (floats) or x_bytes");
}

void validate(Version v, const NoiseArgs& a) {
  version_from_int(int(v));
  if (a.samples < 1 || a.batch < 1 || a.latent < 1)
    bad("noise", "samples, batch and latent must be >= 1 (got " + std::to_string(a.samples) + ", " +
                     std::to_string(a.batch) + ", " + std::to_string(a.latent) + ")");
  if (!a.eps) bad("noise", "eps is null");
  if (a.first < 0 || (a.global_batch > 0 && a.first + a.batch > a.global_batch))
    bad("noise", "the slice " + std::to_string(a.first) + " + " + std::to_string(a.batch) + " images lies outside its global batch of " +
                     std::to_string(a.global_batch));
}

void gather(const device::Stream& stream, Version v, const GatherArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, d = args.pixels;
    const char* how = args.binarize == Binarize::None ? "scaled" : args.binarize == Binarize::Static ? "static" : "dynamic";
    return device::CallCost{"data.gather " + std::to_string(args.batch) + "x" + std::to_string(args.pixels) + " " + how,
                            0, b * d + b * d * (args.x ? 4 : 1) + 4 * b};
  });
  VAE_DISPATCH("data", stream, data::gather(stream, v, args));
}

void advance(const device::Stream& stream, BatchCursor* cursor, int batch) {
  if (!cursor) bad("advance", "cursor is null");
  VAE_PROFILE_CALL(stream, [&] { return device::CallCost{"data.advance", 0, 16}; });
  VAE_DISPATCH("data", stream, data::advance(stream, cursor, batch));
}

void noise(const device::Stream& stream, Version v, const NoiseArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double n = double(args.samples) * args.batch * args.latent;
    return device::CallCost{"data.noise " + std::to_string(args.samples) + "x" + std::to_string(args.batch) + "x" +
                                std::to_string(args.latent),
                            30 * n, 4 * n};
  });
  VAE_DISPATCH("data", stream, data::noise(stream, v, args));
}

}  // namespace vae::kernels::data
