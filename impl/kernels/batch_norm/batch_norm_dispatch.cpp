// The batch-norm family's public entry points: argument checks, then the build for the
// stream's device (see conv/conv_dispatch.cpp).
#include <climits>
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_targets.h"
#include "kernels/family_dispatch.h"

namespace vae::kernels::batch_norm {

Version version_from_int(int v) {
  return checked_version<Version>("batch_norm", v, kFirstVersion, kLastVersion);
}

const char* version_name(Version v) {
  switch (v) {
    case Version::block_per_channel: return "v1 block-per-channel";
    case Version::split_channel: return "v2 split-channel";
  }
  return "?";
}

namespace {

std::string shape_label(int batch, int channels, int hw) {
  return std::to_string(batch) + "x" + std::to_string(channels) + "x" + std::to_string(hw);
}

[[noreturn]] void bad(const char* pass, int batch, int channels, int hw, const std::string& what) {
  throw vae::Error(std::string("batch_norm ") + pass + " " + shape_label(batch, channels, hw) + ": " + what);
}

void check_shape(const char* pass, int batch, int channels, int hw) {
  if (batch < 1 || channels < 1 || hw < 1)
    bad(pass, batch, channels, hw, "batch, channels and pixels per channel must be >= 1");
  if (1ll * batch * channels * hw > INT_MAX)
    bad(pass, batch, channels, hw, "over 2^31 - 1 elements (the kernels index blocks with int)");
}

void need(const char* pass, int batch, int channels, int hw, const void* p, const char* name) {
  if (!p) bad(pass, batch, channels, hw, std::string(name) + " is null");
}

void check_workspace(const char* pass, Version v, int batch, int channels, int hw, const float* workspace,
                     std::size_t size) {
  const std::size_t needed = workspace_floats(v, batch, channels, hw);
  if (needed && (!workspace || size < needed))
    bad(pass, batch, channels, hw,
        std::string(version_name(v)) + " needs a workspace of " + std::to_string(needed) + " floats (workspace_floats), got " +
            (workspace ? std::to_string(size) : std::string("none")));
}

void check_eps(const char* pass, int batch, int channels, int hw, double eps) {
  if (!(eps > 0)) bad(pass, batch, channels, hw, "eps must be > 0, got " + std::to_string(eps));
}

}  // namespace

void validate(Version v, const TrainForwardArgs& a) {
  version_from_int(int(v));
  const char* p = "train forward";
  check_shape(p, a.batch, a.channels, a.hw);
  if (1ll * a.batch * a.hw < 2)
    bad(p, a.batch, a.channels, a.hw,
        "Expected more than 1 value per channel when training (batch x pixels is 1; nn.BatchNorm2d refuses it too)");
  check_eps(p, a.batch, a.channels, a.hw, a.eps);
  if (!(a.momentum >= 0 && a.momentum <= 1))
    bad(p, a.batch, a.channels, a.hw, "momentum must be in [0, 1], got " + std::to_string(a.momentum));
  need(p, a.batch, a.channels, a.hw, a.x, "x");
  need(p, a.batch, a.channels, a.hw, a.y, "y");
  need(p, a.batch, a.channels, a.hw, a.mean, "mean");
  need(p, a.batch, a.channels, a.hw, a.rstd, "rstd");
  if (a.y == a.x) bad(p, a.batch, a.channels, a.hw, "y may not be x (the backward needs the forward's input)");
  const int running = (a.running_mean != nullptr) + (a.running_var != nullptr) + (a.num_batches_tracked != nullptr);
  if (running != 0 && running != 3)
    bad(p, a.batch, a.channels, a.hw,
        "give all of running_mean, running_var and num_batches_tracked, or none (no running update)");
  check_workspace(p, v, a.batch, a.channels, a.hw, a.workspace, a.workspace_size);
}

void validate(Version v, const EvalForwardArgs& a) {
  version_from_int(int(v));
  const char* p = "eval forward";
  check_shape(p, a.batch, a.channels, a.hw);
  check_eps(p, a.batch, a.channels, a.hw, a.eps);
  need(p, a.batch, a.channels, a.hw, a.x, "x");
  need(p, a.batch, a.channels, a.hw, a.y, "y");
  need(p, a.batch, a.channels, a.hw, a.running_mean, "running_mean");
  need(p, a.batch, a.channels, a.hw, a.running_var, "running_var");
}

void validate(Version v, const BackwardArgs& a) {
  version_from_int(int(v));
  const char* p = "backward";
  check_shape(p, a.batch, a.channels, a.hw);
  need(p, a.batch, a.channels, a.hw, a.dy, "dy");
  if (a.activation != Activation::identity) need(p, a.batch, a.channels, a.hw, a.y, "y (the forward's output)");
  need(p, a.batch, a.channels, a.hw, a.x, "x");
  need(p, a.batch, a.channels, a.hw, a.mean, "mean");
  need(p, a.batch, a.channels, a.hw, a.rstd, "rstd");
  need(p, a.batch, a.channels, a.hw, a.dx, "dx");
  need(p, a.batch, a.channels, a.hw, a.dgamma, "dgamma");
  need(p, a.batch, a.channels, a.hw, a.dbeta, "dbeta");
  for (const float* other : {a.dx, a.dgamma, a.dbeta})
    if (a.dbias && a.dbias == other) bad(p, a.batch, a.channels, a.hw, "dbias may not be another output");
  check_workspace(p, v, a.batch, a.channels, a.hw, a.workspace, a.workspace_size);
}

// Costs: each pass over the [B, C, HW] tensor reads it once (the profile's bytes); FLOPs are
// the few operations per element of each pass.
void train_forward(const device::Stream& stream, Version v, const TrainForwardArgs& a) {
  validate(v, a);
  VAE_PROFILE_CALL(stream, [&] {
    const double n = double(a.batch) * a.channels * a.hw;
    return device::CallCost{"batch_norm.train_forward " + shape_label(a.batch, a.channels, a.hw) + " " +
                                gemm::activation_name(a.activation) + " (" + version_name(v) + ")",
                            8 * n, 4 * (4 * n + 8.0 * a.channels)};
  });
  VAE_DISPATCH("batch_norm", stream, batch_norm::train_forward(stream, v, a));
}

void eval_forward(const device::Stream& stream, Version v, const EvalForwardArgs& a) {
  validate(v, a);
  VAE_PROFILE_CALL(stream, [&] {
    const double n = double(a.batch) * a.channels * a.hw;
    return device::CallCost{"batch_norm.eval_forward " + shape_label(a.batch, a.channels, a.hw) + " " +
                                gemm::activation_name(a.activation) + " (" + version_name(v) + ")",
                            4 * n, 4 * (2 * n + 4.0 * a.channels)};
  });
  VAE_DISPATCH("batch_norm", stream, batch_norm::eval_forward(stream, v, a));
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& a) {
  validate(v, a);
  VAE_PROFILE_CALL(stream, [&] {
    const double n = double(a.batch) * a.channels * a.hw;
    const double reads = a.activation != Activation::identity ? 3 : 2;  // dy, x (and y) per pass
    return device::CallCost{"batch_norm.backward " + shape_label(a.batch, a.channels, a.hw) + " " +
                                gemm::activation_name(a.activation) + (a.dbias ? " + conv bias gradient" : "") + " (" +
                                version_name(v) + ")",
                            (a.dbias ? 11 : 10) * n, 4 * (2 * reads * n + n + (a.dbias ? 6.0 : 5.0) * a.channels)};
  });
  VAE_DISPATCH("batch_norm", stream, batch_norm::backward(stream, v, a));
}

}  // namespace vae::kernels::batch_norm
