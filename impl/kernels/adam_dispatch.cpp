// The adam family's public entry point: argument checks, then the build for the stream's
// device (Kind::emu: the host-compiled kernels; Kind::cuda: the nvcc build).
#include <cmath>
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/family_dispatch.h"
#include "kernels/adam.h"
#include "kernels/adam_targets.h"

namespace vae::kernels::adam {

Version version_from_int(int v) { return checked_version<Version>("adam", v, kFirstVersion, kLastVersion); }

const char* version_name(Version v) {
  switch (v) {
    case Version::grid_stride: return "v1 grid-stride";
  }
  return "?";
}

namespace {
[[noreturn]] void bad(const std::string& what) { throw vae::Error("adam: " + what); }
}  // namespace

void validate(Version v, const StepArgs& a) {
  version_from_int(int(v));
  if (a.count < 1) bad("count must be >= 1");
  if (!a.params || !a.exp_avg || !a.exp_avg_sq || !a.grad)
    bad("params, exp_avg, exp_avg_sq and grad must all be given");
  if (!a.state) bad("state is null (the device's step count and bias corrections)");
  const AdamOptions& o = a.options;
  if (!(o.lr >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps >= 0) ||
      !std::isfinite(o.lr) || !std::isfinite(o.eps))
    bad("options out of range (lr >= 0, 0 <= beta1, beta2 < 1, eps >= 0; got lr " + std::to_string(o.lr) +
        ", betas " + std::to_string(o.beta1) + ", " + std::to_string(o.beta2) + ", eps " + std::to_string(o.eps) + ")");
}

void step(const device::Stream& stream, Version v, const StepArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double n = double(args.count);
    return device::CallCost{"adam.step " + std::to_string(args.count) + " parameters", 14 * n, 7 * 4 * n};
  });
  VAE_DISPATCH("adam", stream, adam::step(stream, v, args));
}

}  // namespace vae::kernels::adam
