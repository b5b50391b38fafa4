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
  }
  return "?";
}

const char* precision(Version v) { return v == Version::tf32_wmma ? "tf32" : "fp32"; }

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

}  // namespace

void validate(Version v, const ForwardArgs& a) {
  version_from_int(int(v));
  check_shape("forward", a.batch, a.in, a.out);
  check_input("forward", a.x, a.x_bytes);
  if (!a.weight) bad("forward", "weight is null");
  if (!a.y) bad("forward", "y is null");
  check_workspace("forward", workspace_floats(v, Pass::forward, a.batch, a.in, a.out), a.workspace, a.workspace_size);
}

void validate(Version v, const BackwardArgs& a) {
  version_from_int(int(v));
  check_shape("backward", a.batch, a.in, a.out);
  check_input("backward", a.x, a.x_bytes);
  if (!a.dy) bad("backward", "dy is null");
  if (!a.y && a.activation != Activation::identity) bad("backward", "y (the forward's output) is null");
  if (!a.weight && a.dx) bad("backward", "weight is null (dx needs it)");
  if (!a.dw) bad("backward", "dw is null");
  check_workspace("backward", workspace_floats(v, Pass::backward, a.batch, a.in, a.out), a.workspace, a.workspace_size);
}

void forward(const device::Stream& stream, Version v, const ForwardArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, in = args.in, out = args.out;
    return device::CallCost{"gemm.forward " + std::to_string(args.batch) + "x" + std::to_string(args.in) + "->" +
                                std::to_string(args.out) + " " + activation_name(args.activation) +
                                (args.x_bytes ? ", u8 input" : "") + " (" + version_name(v) + ")",
                            2 * b * in * out + 2 * b * out,
                            b * in * (args.x_bytes ? 1 : 4) + 4 * (in * out + out + b * out)};
  });
  VAE_DISPATCH("gemm", stream, gemm::forward(stream, v, args));
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& args) {
  validate(v, args);
  VAE_PROFILE_CALL(stream, [&] {
    const double b = args.batch, in = args.in, out = args.out, products = args.dx ? 2 : 1;
    return device::CallCost{"gemm.backward " + std::to_string(args.batch) + "x" + std::to_string(args.in) + "<-" +
                                std::to_string(args.out) + " " + activation_name(args.activation) +
                                (args.dx ? "" : ", no dX") + " (" + version_name(v) + ")",
                            products * 2 * b * in * out + 3 * b * out,
                            b * in * (args.x_bytes ? 1 : 4) + 4 * (2 * b * out + 2 * in * out + out) +
                                (args.dx ? 4 * b * in : 0)};
  });
  VAE_DISPATCH("gemm", stream, gemm::backward(stream, v, args));
}

}  // namespace vae::kernels::gemm
