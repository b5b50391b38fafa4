// The latent family's public entry points: argument checks, then the build for the stream's
// device (Kind::emu: the host-compiled kernels; Kind::cuda: the nvcc build, with VAE_WITH_CUDA).
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/family_dispatch.h"
#include "kernels/latent.h"
#include "kernels/latent_targets.h"

namespace vae::kernels::latent {

Version version_from_int(int v) { return checked_version<Version>("latent", v, kFirstVersion, kLastVersion); }

const char* version_name(Version v) {
  switch (v) {
    case Version::per_image: return "v1 per-image";
  }
  return "?";
}

namespace {

[[noreturn]] void bad(const char* pass, const std::string& what) {
  throw vae::Error(std::string("latent ") + pass + ": " + what);
}

void check_shape(const char* pass, int batch, int latent, int samples) {
  if (batch < 1 || latent < 1 || samples < 1)
    bad(pass, "batch, latent and samples must be >= 1 (got " + std::to_string(batch) + ", " + std::to_string(latent) +
                  ", " + std::to_string(samples) + ")");
}


}  // namespace

void validate(Version v, const ForwardArgs& a) {
  version_from_int(int(v));
  check_shape("forward", a.batch, a.latent, a.samples);
  if (!a.heads) bad("forward", "heads is null");
  if (!a.eps) bad("forward", "eps is null");
  if (!a.z) bad("forward", "z is null");
}

void validate(Version v, const BackwardArgs& a) {
  version_from_int(int(v));
  check_shape("backward", a.batch, a.latent, a.samples);
  if (!a.heads) bad("backward", "heads is null");
  if (!a.eps) bad("backward", "eps is null");
  if (!a.dz) bad("backward", "dz is null");
  if (!a.d_heads) bad("backward", "d_heads is null");
}

void forward(const device::Stream& stream, Version v, const ForwardArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, z = args.latent, kbz = double(args.samples) * b * z;
    return device::CallCost{"latent.forward " + std::to_string(args.batch) + "x" + std::to_string(args.latent) + " K=" +
                                std::to_string(args.samples),
                            3 * kbz + 6 * b * z, 4 * (2 * b * z + 2 * kbz + b)};
  });
  VAE_DISPATCH("latent", stream, latent::forward(stream, v, args));
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, z = args.latent, kbz = double(args.samples) * b * z;
    return device::CallCost{"latent.backward " + std::to_string(args.batch) + "x" + std::to_string(args.latent) +
                                " K=" + std::to_string(args.samples),
                            4 * kbz + 6 * b * z, 4 * (4 * b * z + 2 * kbz)};
  });
  VAE_DISPATCH("latent", stream, latent::backward(stream, v, args));
}

}  // namespace vae::kernels::latent
