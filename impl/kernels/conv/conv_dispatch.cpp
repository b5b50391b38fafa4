// The conv family's public entry points: argument checks, then the build for the stream's
// device: Kind::emu -> the host-compiled kernels (CPU executor), Kind::cuda -> the nvcc build,
// present only when VAE_WITH_CUDA.
#include <algorithm>
#include <climits>
#include <string>

#include "common/error.h"
#include "device/call_profile.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/conv_nll_layout.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/conv/conv_targets.h"
#include "kernels/family_dispatch.h"

namespace vae::kernels::conv {

Version version_from_int(int v) { return checked_version<Version>("conv", v, kFirstVersion, kLastVersion); }

const char* version_name(Version v) {
  switch (v) {
    case Version::direct: return "v1 direct";
    case Version::shared_tiles: return "v2 shared-tiles";
    case Version::register_blocked: return "v3 register-blocked";
    case Version::tf32_wmma: return "v4 tf32-wmma";
    case Version::bf16_wmma: return "v5 bf16-wmma";
  }
  return "?";
}

const char* precision(Version v) {
  return v == Version::tf32_wmma ? "tf32" : v == Version::bf16_wmma ? "bf16" : "fp32";
}

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::forward: return "forward";
    case Direction::data_gradient: return "data-grad";
    case Direction::weight_gradient: return "weight-grad";
  }
  return "?";
}

namespace {

plan::Dims dims_of(Direction d, const ConvGeometry& g, int batch) { return plan::dims(d, plan::core_of(g, batch)); }

std::size_t floats_for(Version v, Direction d, const ConvGeometry& g, int batch) {
  const plan::Dims dims = dims_of(d, g, batch);
  return plan::partial_floats(plan::split(v, dims), dims);
}

[[noreturn]] void bad(const char* pass, const ConvGeometry& g, const std::string& what) {
  throw vae::Error(std::string("conv ") + pass + " " + g.describe() + ": " + what);
}

// The geometry (ConvGeometry::check's message), the batch, and index ranges: every GEMM
// dimension and every tensor index must fit the kernels' int / long long arithmetic.
void check_shape(const char* pass, const ConvGeometry& g, int batch) {
  g.check();
  if (batch < 1) bad(pass, g, "batch must be >= 1, got " + std::to_string(batch));
  const long long pixels = std::max(1ll * g.in_h * g.in_w, 1ll * g.out_h() * g.out_w());
  const long long channels = std::max(g.in_channels, g.out_channels);
  if (1ll * batch * pixels > INT_MAX || channels * g.kernel * g.kernel > INT_MAX)
    bad(pass, g, "batch " + std::to_string(batch) + " x " + std::to_string(pixels) +
                     " pixels or channels x k² is over 2^31 - 1 (the kernels index rows and depth with int)");
}

void check_input(const char* pass, const ConvGeometry& g, const float* x, const std::uint8_t* x_bytes) {
  if ((x == nullptr) == (x_bytes == nullptr)) bad(pass, g, "give exactly one of x (floats) and x_bytes (uint8 images)");
}

void check_workspace(const char* pass, const ConvGeometry& g, std::size_t need, const float* workspace, std::size_t size) {
  if (need > 0 && (workspace == nullptr || size < need))
    bad(pass, g, "workspace of " + std::to_string(size) + " floats, this version and shape need " +
                     std::to_string(need) + " (conv::workspace_floats)");
}

std::string shape_label(const ConvGeometry& g, int batch) {
  return std::to_string(batch) + "x" + std::to_string(g.in_channels) + "x" + std::to_string(g.in_h) + "x" +
         std::to_string(g.in_w) + "->" + std::to_string(g.out_channels) + "x" + std::to_string(g.out_h()) + "x" +
         std::to_string(g.out_w()) + " k" + std::to_string(g.kernel) + " s" + std::to_string(g.stride) + " p" +
         std::to_string(g.padding) + (g.output_padding ? " op" + std::to_string(g.output_padding) : std::string());
}

// Multiply-adds of one direction over the batch: every (output, tap) pair, padding included,
// as model/layers counts a layer's MACs.
double macs(const ConvGeometry& g, int batch) {
  const double taps = double(g.in_channels) * g.out_channels * g.kernel * g.kernel;
  return double(batch) * taps * (g.transposed ? double(g.in_h) * g.in_w : double(g.out_h()) * g.out_w());
}

}  // namespace

std::size_t workspace_floats(Version v, Pass pass, const ConvGeometry& g, int batch) {
  g.check();
  if (pass == Pass::forward) return floats_for(v, plan::direction_of(g.transposed, plan::Output::y), g, batch);
  return std::max(floats_for(v, plan::direction_of(g.transposed, plan::Output::dx), g, batch),
                  floats_for(v, Direction::weight_gradient, g, batch));
}

std::size_t likelihood_floats(const ConvGeometry& g, int batch) {
  g.check();
  return NllLayout{batch, int(g.out_h() * g.out_w()), g.out_channels}.floats();
}

void validate(Version v, const ForwardArgs& a) {
  version_from_int(int(v));
  check_shape("forward", a.geometry, a.batch);
  check_input("forward", a.geometry, a.x, a.x_bytes);
  if (!a.weight) bad("forward", a.geometry, "weight is null");
  if (const LikelihoodEpilogue* e = a.likelihood) {
    const char* p = "forward + likelihood";
    if (!has_likelihood_epilogue(v))
      bad(p, a.geometry, std::string(version_name(v)) + " has no likelihood epilogue (v3-v5 do)");
    if (a.activation != Activation::identity)
      bad(p, a.geometry, "the likelihood reads the logits: the activation must be identity");
    if (e->batch < 1 || e->samples < 1 || 1ll * e->batch * e->samples != a.batch)
      bad(p, a.geometry, "the layer's batch " + std::to_string(a.batch) + " must be samples x batch (" +
                             std::to_string(e->samples) + " x " + std::to_string(e->batch) + ")");
    if ((e->x == nullptr) == (e->x_bytes == nullptr)) bad(p, a.geometry, "give exactly one of the targets x and x_bytes");
    if (!e->block_nll) bad(p, a.geometry, "block_nll is null (conv::likelihood_floats floats)");
    if (e->write_gradient && !a.y) bad(p, a.geometry, "y (for dL/dO) is null");
    if (a.eval_batch_norm) bad(p, a.geometry, "the output layer takes no batch norm (eval_batch_norm is set)");
    return;  // never split: no workspace
  }
  if (!a.y) bad("forward", a.geometry, "y is null");
  if (const EvalBatchNormEpilogue* bn = a.eval_batch_norm) {
    const char* p = "forward + batch norm (evaluation)";
    if (a.activation != Activation::identity)
      bad(p, a.geometry, "the activation comes after batch norm (EvalBatchNormEpilogue::activation): the layer's must be identity");
    if (!bn->running_mean || !bn->running_var) bad(p, a.geometry, "running_mean and running_var are required");
    if (!(bn->eps > 0)) bad(p, a.geometry, "eps must be > 0, got " + std::to_string(bn->eps));
  }
  check_workspace("forward", a.geometry, workspace_floats(v, Pass::forward, a.geometry, a.batch), a.workspace,
                  a.workspace_size);
}

void validate(Version v, const BackwardArgs& a) {
  version_from_int(int(v));
  check_shape("backward", a.geometry, a.batch);
  check_input("backward", a.geometry, a.x, a.x_bytes);
  if (!a.dy) bad("backward", a.geometry, "dy is null");
  if (!a.y && a.activation != Activation::identity) bad("backward", a.geometry, "y (the forward's output) is null");
  if (!a.weight && a.dx) bad("backward", a.geometry, "weight is null (dx needs it)");
  if (!a.dw) bad("backward", a.geometry, "dw is null");
  check_workspace("backward", a.geometry, workspace_floats(v, Pass::backward, a.geometry, a.batch), a.workspace,
                  a.workspace_size);
}

void forward(const device::Stream& stream, Version v, const ForwardArgs& a) {
  validate(v, a);
  VAE_PROFILE_CALL(stream, [&] {
    const ConvGeometry& g = a.geometry;
    const double in = double(a.batch) * g.in_size(), out = double(a.batch) * g.out_size();
    const LikelihoodEpilogue* e = a.likelihood;
    std::string epilogue;
    if (e)
      epilogue = std::string(" + likelihood ") + (e->likelihood == Likelihood::Bernoulli ? "bernoulli" : "gaussian") +
                 (e->write_gradient ? " + dL/dO" : "");
    if (a.eval_batch_norm)
      epilogue = std::string(" + batch norm (evaluation) ") + gemm::activation_name(a.eval_batch_norm->activation);
    // The likelihood: ~8 FLOP an element (as likelihood v1 counts them), the targets read,
    // dL/dO (if written) instead of the output, the block sums.
    const double targets = e ? out / e->samples * (e->x_bytes ? 1 : 4) : 0;
    const double writes = e ? (e->write_gradient ? out : 0) + double(likelihood_floats(g, a.batch)) : out;
    return device::CallCost{std::string(g.transposed ? "conv_transpose" : "conv") + ".forward " +
                                shape_label(g, a.batch) + " " + gemm::activation_name(a.activation) +
                                (a.x_bytes ? ", u8 input" : "") + epilogue + " (" + version_name(v) + ")",
                            2 * macs(g, a.batch) + (a.bias ? out : 0) + (e ? 8 * out : 0) + (a.eval_batch_norm ? 4 * out : 0),
                            in * (a.x_bytes ? 1 : 4) + targets +
                                4 * (double(g.weight_size()) + writes + (a.bias ? g.out_channels : 0) +
                                     (a.eval_batch_norm ? 4.0 * g.out_channels : 0))};
  });
  VAE_DISPATCH("conv", stream, conv::forward(stream, v, a));
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& a) {
  validate(v, a);
  VAE_PROFILE_CALL(stream, [&] {
    const ConvGeometry& g = a.geometry;
    const double in = double(a.batch) * g.in_size(), out = double(a.batch) * g.out_size();
    const bool prologue = a.activation != Activation::identity;
    // dX and dW are one product each; db adds one per dY element. dY (and Y for act') is read
    // by every problem that uses it.
    const double problems = a.dx ? 2 : 1;
    return device::CallCost{std::string(g.transposed ? "conv_transpose" : "conv") + ".backward " +
                                shape_label(g, a.batch) + " " + gemm::activation_name(a.activation) +
                                (a.dx ? "" : ", no dX") + " (" + version_name(v) + ")",
                            problems * 2 * macs(g, a.batch) + (a.db ? out : 0) + (prologue ? out : 0),
                            (problems + (a.db ? 1 : 0)) * out * 4 * (prologue ? 2 : 1) + in * (a.x_bytes ? 1 : 4) +
                                4 * (2 * double(g.weight_size()) + (a.dx ? in : 0) + (a.db ? g.out_channels : 0))};
  });
  VAE_DISPATCH("conv", stream, conv::backward(stream, v, a));
}

}  // namespace vae::kernels::conv
