// The likelihood family's public entry point: argument checks, then the build for the
// stream's device (Kind::emu: the host-compiled kernels; Kind::cuda: the nvcc build).
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/family_dispatch.h"
#include "kernels/likelihood.h"
#include "kernels/conv/conv_nll_layout.h"
#include "kernels/likelihood_targets.h"

namespace vae::kernels::likelihood {

Version version_from_int(int v) { return checked_version<Version>("likelihood", v, kFirstVersion, kLastVersion); }

const char* version_name(Version v) {
  switch (v) {
    case Version::row_blocks: return "v1 row-blocks";
    case Version::tile_sums: return "v2 tile-sums";
  }
  return "?";
}

namespace {
[[noreturn]] void bad(const std::string& what) { throw vae::Error("likelihood: " + what); }
}  // namespace

void validate(Version v, const Args& a) {
  version_from_int(int(v));
  if (a.batch < 1 || a.samples < 1 || a.pixels < 1)
    bad("batch, samples and pixels must be >= 1 (got " + std::to_string(a.batch) + ", " + std::to_string(a.samples) +
        ", " + std::to_string(a.pixels) + ")");
  if (v == Version::row_blocks) {
    if (!a.logits) bad("logits is null");
    if ((a.x == nullptr) == (a.x_bytes == nullptr)) bad("give exactly one of x (floats) and x_bytes (uint8 images)");
  } else if (!a.row_nll) {
    bad("v2 tile-sums needs row_nll, the output GEMM's likelihood epilogue (gemm::LikelihoodEpilogue) or the "
        "conv family's (conv::LikelihoodEpilogue)");
  } else if ((a.conv_hw != 0 || a.conv_channels != 0) &&
             (a.conv_hw < 1 || a.conv_channels < 1 || 1ll * a.conv_hw * a.conv_channels != a.pixels)) {
    bad("v2 after a conv: conv_hw x conv_channels (" + std::to_string(a.conv_hw) + " x " +
        std::to_string(a.conv_channels) + ") must be the pixels, " + std::to_string(a.pixels));
  }
  if (!a.kl) bad("kl is null (latent::forward writes it)");
  if (!a.recon) bad("recon is null");
  if (a.nonfinite && !a.steps_taken) bad("a non-finite record needs steps_taken (the step it records)");
}

void run(const device::Stream& stream, Version v, const Args& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, d = args.pixels, kbd = double(args.samples) * b * d;
    if (v == Version::tile_sums && args.conv_hw > 0) {
      const double rows = double(args.samples) * b;
      const double pieces = double(conv::NllLayout{int(rows), args.conv_hw, args.conv_channels}.floats());
      return device::CallCost{"likelihood conv block sums " + std::to_string(args.samples) + "x" +
                                  std::to_string(args.batch) + " from " + std::to_string(long(pieces)) + " block sums",
                              pieces + 8 * b, 4 * pieces + 16 * b};
    }
    if (v == Version::tile_sums) {
      const double rows = double(args.samples) * b, tiles = gemm::likelihood_tiles(args.pixels);
      return device::CallCost{"likelihood tile sums " + std::to_string(args.samples) + "x" + std::to_string(args.batch) +
                                  " from " + std::to_string(int(tiles)) + " tiles",
                              rows * tiles + 8 * b, 4 * rows * tiles + 16 * b};
    }
    return device::CallCost{"likelihood " + std::string(args.likelihood == Likelihood::Bernoulli ? "bernoulli " : "gaussian ") +
                                std::to_string(args.samples) + "x" + std::to_string(args.batch) + "x" +
                                std::to_string(args.pixels) + (args.write_gradient ? " + dL/dO" : ""),
                            8 * kbd, 4 * kbd * (args.write_gradient ? 2 : 1) + b * d * (args.x_bytes ? 1 : 4) + 16 * b};
  });
  VAE_DISPATCH("likelihood", stream, likelihood::run(stream, v, args));
}

}  // namespace vae::kernels::likelihood
