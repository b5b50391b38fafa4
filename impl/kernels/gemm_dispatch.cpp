// Kernel families' public entry points: argument checks, then the build for the stream's
// device: Kind::emu -> the host-compiled kernels (CPU executor), Kind::cuda -> the nvcc
// build, present only when VAE_WITH_CUDA.
#include <algorithm>
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/family_dispatch.h"
#include "kernels/gemm.h"
#include "kernels/gemm_plan.h"
#include "kernels/gemm_targets.h"

namespace vae::kernels::gemm {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
  }
  return "?";
}

Version version_from_int(int v) { return checked_version<Version>("gemm", v, kFirstVersion, kLastVersion); }

const char* version_name(Version v) {
  switch (v) {
    case Version::naive: return "v1 naive";
    case Version::shared_tiles: return "v2 shared-tiles";
    case Version::register_blocked: return "v3 register-blocked";
    case Version::split_k: return "v4 split-k";
    case Version::tf32_wmma: return "v5 tf32-wmma";
    case Version::bf16_wmma: return "v6 bf16-wmma";
  }
  return "?";
}

const char* precision(Version v) {
  return v == Version::tf32_wmma ? "tf32" : v == Version::bf16_wmma ? "bf16" : "fp32";
}

std::size_t workspace_floats(Version v, Pass pass, int batch, int in, int out) {
  if (pass == Pass::forward) return plan::partial_floats(plan::split(v, batch, out, in), batch, out, false);
  return std::max(plan::partial_floats(plan::split(v, batch, in, out), batch, in, false),
                  plan::partial_floats(plan::split(v, out, in, batch), out, in, true));
}

namespace {

[[noreturn]] void bad(const char* pass, const std::string& what) { throw vae::Error(std::string("gemm ") + pass + ": " + what); }

void check_shape(const char* pass, int batch, int in, int out) {
  if (batch < 1 || in < 1 || out < 1)
    bad(pass, "batch, in and out must be >= 1 (got " + std::to_string(batch) + ", " + std::to_string(in) + ", " +
                  std::to_string(out) + ")");
}

void check_input(const char* pass, const float* x, const std::uint8_t* x_bytes) {
  if ((x == nullptr) == (x_bytes == nullptr)) bad(pass, "give exactly one of x (floats) and x_bytes (uint8 images)");
}

void check_workspace(const char* pass, std::size_t need, const float* workspace, std::size_t size) {
  if (need > 0 && (workspace == nullptr || size < need))
    bad(pass, "workspace of " + std::to_string(size) + " floats, this version and shape need " + std::to_string(need) +
                  " (gemm::workspace_floats)");
}

void check_epilogues(Version v, const ForwardArgs& a) {
  if (!a.likelihood && !a.latent) return;
  const char* which = a.likelihood ? "the likelihood epilogue" : "the latent epilogue";
  if (a.likelihood && a.latent) bad("forward", "give at most one epilogue (likelihood or latent)");
  if (!has_epilogues(v))
    bad("forward", std::string(which) + " needs the 64x64 block tile of v3-v6, not " + version_name(v) +
                       "; run likelihood::run v1 or latent::forward after the GEMM instead");
  if (a.activation != Activation::identity)
    bad("forward", std::string(which) + " replaces the activation: give identity, not " + activation_name(a.activation));
  if (const LikelihoodEpilogue* e = a.likelihood) {
    if (e->batch < 1 || e->samples < 1 || 1ll * e->batch * e->samples != a.batch)
      bad("forward", "the likelihood epilogue's samples x batch (" + std::to_string(e->samples) + " x " +
                         std::to_string(e->batch) + ") must be the GEMM's batch " + std::to_string(a.batch));
    check_input("forward (likelihood targets)", e->x, e->x_bytes);
    if (!e->row_nll) bad("forward", "the likelihood epilogue's row_nll is null");
  }
  if (const LatentEpilogue* e = a.latent) {
    if (a.out % 2 != 0 || a.out > kEpilogueTileCols)
      bad("forward", "the latent epilogue needs out = 2Z <= " + std::to_string(kEpilogueTileCols) +
                         " (mu and logvar in one column tile), got out = " + std::to_string(a.out) +
                         "; run latent::forward after the GEMM instead");
    if (e->samples < 1) bad("forward", "the latent epilogue's samples must be >= 1");
    if (!e->eps || !e->z) bad("forward", "the latent epilogue needs eps and z");
  }
}

}  // namespace

void validate(Version v, const ForwardArgs& a) {
  version_from_int(int(v));
  check_shape("forward", a.batch, a.in, a.out);
  check_input("forward", a.x, a.x_bytes);
  if (!a.weight) bad("forward", "weight is null");
  check_epilogues(v, a);
  if (!a.y && !(a.likelihood && !a.likelihood->write_gradient))
    bad("forward", a.likelihood ? "y (for dL/dO) is null" : "y is null");
  check_workspace("forward", workspace_floats(v, Pass::forward, a.batch, a.in, a.out), a.workspace, a.workspace_size);
}

void validate(Version v, const BackwardArgs& a) {
  version_from_int(int(v));
  check_shape("backward", a.batch, a.in, a.out);
  check_input("backward", a.x, a.x_bytes);
  if (!a.dy) bad("backward", "dy is null");
  if (!a.y && a.activation != Activation::identity) bad("backward", "y (the forward's output) is null");
  if (!a.weight && (a.dx || a.latent)) bad("backward", "weight is null (dx needs it)");
  if (const LatentBackwardEpilogue* e = a.latent) {
    if (a.dx) bad("backward", "the latent backward epilogue writes d_heads in place of dx: give dx = null");
    if (!e->heads || !e->eps || !e->d_heads) bad("backward", "the latent backward epilogue needs heads, eps and d_heads");
  }
  if (!a.dw) bad("backward", "dw is null");
  check_workspace("backward", workspace_floats(v, Pass::backward, a.batch, a.in, a.out), a.workspace, a.workspace_size);
}

void forward(const device::Stream& stream, Version v, const ForwardArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, in = args.in, out = args.out;
    std::string epilogue = activation_name(args.activation);
    double flop = 2 * b * in * out + 2 * b * out, bytes = b * in * (args.x_bytes ? 1 : 4) + 4 * (in * out + out + b * out);
    if (const LikelihoodEpilogue* e = args.likelihood) {  // per pixel ~8 FLOP; reads x, writes dL/dO (or not) and row sums
      epilogue = std::string("+ likelihood ") + (e->likelihood == Likelihood::Bernoulli ? "bernoulli" : "gaussian") +
                 (e->write_gradient ? " + dL/dO" : "");
      flop += 8 * b * out;
      bytes += double(e->batch) * out * (e->x_bytes ? 1 : 4) - (e->write_gradient ? 0 : 4 * b * out) +
               4 * b * likelihood_tiles(args.out);
    } else if (const LatentEpilogue* e = args.latent) {  // z: 2 FLOP per sample; KL: 5 per element
      epilogue = "+ latent K=" + std::to_string(e->samples);
      flop += b * out / 2 * (2 * e->samples + 5);
      bytes += 2 * 4 * b * out / 2 * e->samples + (e->kl ? 4 * b : 0);
    }
    return device::CallCost{"gemm.forward " + std::to_string(args.batch) + "x" + std::to_string(args.in) + "->" +
                                std::to_string(args.out) + " " + epilogue + (args.x_bytes ? ", u8 input" : "") + " (" +
                                version_name(v) + ")",
                            flop, bytes};
  });
  VAE_DISPATCH("gemm", stream, gemm::forward(stream, v, args));
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const bool dx = args.dx || args.latent;
    const double b = args.batch, in = args.in, out = args.out, products = dx ? 2 : 1;
    // The latent epilogue per dz element: ~10 FLOP; reads mu, logvar, eps, writes dmu, dlogvar.
    return device::CallCost{"gemm.backward " + std::to_string(args.batch) + "x" + std::to_string(args.in) + "<-" +
                                std::to_string(args.out) + " " + activation_name(args.activation) +
                                (args.latent ? " + latent dH" : dx ? "" : ", no dX") + " (" + version_name(v) + ")",
                            products * 2 * b * in * out + 3 * b * out + (args.latent ? 10 * b * in : 0),
                            b * in * (args.x_bytes ? 1 : 4) + 4 * (2 * b * out + 2 * in * out + out) +
                                (args.latent ? 4 * 5 * b * in : dx ? 4 * b * in : 0)};
  });
  VAE_DISPATCH("gemm", stream, gemm::backward(stream, v, args));
}

}  // namespace vae::kernels::gemm
