#include "kernels/batch_norm/batch_norm_check.h"

#include <cmath>

#include "common/error.h"
#include "conv_layers.h"  // reference/: the double-precision BatchNorm2d
#include "kernels/check_inputs.h"
#include "kernels/layer_activation.h"
#include "model/layers.h"

namespace vae::kernels::batch_norm::check {

std::string Case::label() const {
  return std::to_string(batch) + ":" + std::to_string(channels) + ":" + std::to_string(hw) + ":" +
         to_string(layer_activation(activation));
}

Case parse_case(const std::string& text) {
  const std::string option = "--bn-shape '" + text + "'";
  std::vector<std::string> parts;
  for (std::size_t at = 0;;) {
    const std::size_t colon = text.find(':', at);
    parts.push_back(text.substr(at, colon == std::string::npos ? std::string::npos : colon - at));
    if (colon == std::string::npos) break;
    at = colon + 1;
  }
  if (parts.size() != 3 && parts.size() != 4)
    throw vae::Error(option + ": expected B:C:HW[:relu|tanh|none] (batch, channels, pixels per channel), e.g. 16:64:256:relu");
  const char* what[] = {"the batch", "the channels", "the pixels per channel"};
  int values[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(parts[i], &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (parts[i].empty() || used != parts[i].size() || v < 1 || v > (1 << 24))
      throw vae::Error(option + ": " + what[i] + " '" + parts[i] + "' must be an integer in 1.." + std::to_string(1 << 24));
    values[i] = int(v);
  }
  Case c;
  c.batch = values[0], c.channels = values[1], c.hw = values[2];
  c.name = "--bn-shape";
  if (parts.size() == 4) {
    if (parts[3] == "relu") c.activation = Activation::relu;
    else if (parts[3] == "tanh") c.activation = Activation::tanh;
    else if (parts[3] == "none") c.activation = Activation::identity;
    else throw vae::Error(option + ": the activation '" + parts[3] + "' must be relu, tanh or none");
  }
  if (1ll * c.batch * c.channels * c.hw > (1ll << 31) - 1)
    throw vae::Error(option + ": over 2^31 - 1 elements");
  return c;
}

std::vector<Case> preset_layers(int batch) {
  std::vector<Case> cases;
  for (const std::string& name : preset_names()) {
    const ModelLayers layers(preset_spec(name));
    for (const DerivedLayer& l : layers.layers()) {
      if (!l.spec.batch_norm) continue;
      Case c;
      c.batch = batch, c.channels = int(l.out.c), c.hw = int(l.out.h * l.out.w);
      c.activation = kernel_activation(l.spec.activation);
      c.name = name + " " + l.prefix + ".bn";
      cases.push_back(c);
    }
  }
  return cases;
}

std::vector<Case> odd_cases() {
  std::vector<Case> cases;
  const auto add = [&](int b, int c, int hw, Activation a, const char* why) {
    Case k;
    k.batch = b, k.channels = c, k.hw = hw, k.activation = a, k.name = why;
    cases.push_back(k);
  };
  add(2, 1, 1, Activation::relu, "n = 2 over the batch (the least training allows)");
  add(1, 3, 2, Activation::tanh, "n = 2 over the pixels, batch 1");
  add(3, 5, 37, Activation::identity, "n = 111, under one block");
  add(7, 4, 601, Activation::relu, "n = 4207, 16 strides and a remainder");
  add(2, 70, 9, Activation::tanh, "70 channels");
  add(3, 2, 5000, Activation::relu, "n = 15000: v2's four slices, the last shorter");
  return cases;
}

const char* pass_name(Pass p) {
  switch (p) {
    case Pass::train_forward: return "train-forward";
    case Pass::eval_forward: return "eval-forward";
    case Pass::backward: return "backward";
  }
  return "?";
}

namespace {

using check_inputs::nan_array;
using check_inputs::uniform;
using gemm::reference::activate;
using gemm::reference::Expected;
using gemm::reference::prologue;

enum Streams : std::uint64_t { kX = 301, kOffset, kGamma, kBeta, kRunningMean, kRunningVar, kDy };

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

Expected expected(std::vector<double> want, std::vector<double> scale, int n) {
  Expected e;
  e.accumulation_length = n;
  e.normwise_of_scale = true;  // tolerances.h, "Batch norm"
  for (std::size_t i = 0; i < want.size(); ++i) scale[i] += std::fabs(want[i]);
  e.want = std::move(want);
  e.scale = std::move(scale);
  return e;
}

// Per channel: Σ|v| / n over its n = B·HW elements.
std::vector<double> channel_mean_abs(const Case& c, const std::vector<double>& v) {
  std::vector<double> m(std::size_t(c.channels), 0.0);
  for (int b = 0; b < c.batch; ++b)
    for (int ch = 0; ch < c.channels; ++ch)
      for (int p = 0; p < c.hw; ++p) m[ch] += std::fabs(v[(std::size_t(b) * c.channels + ch) * c.hw + p]);
  for (double& x : m) x /= double(c.batch) * c.hw;
  return m;
}

std::size_t channel_of(const Case& c, std::size_t i) { return i / std::size_t(c.hw) % std::size_t(c.channels); }

}  // namespace

// The scales (tolerances.h, "Batch norm"): each output's error is bounded by the accumulation
// bound over n times the magnitudes that carry the sums' errors into it.
Prepared prepare(Pass pass, const Case& c, std::uint64_t seed) {
  Prepared p;
  p.pass = pass;
  p.c = c;
  const std::size_t size = std::size_t(c.batch) * c.channels * c.hw, C = std::size_t(c.channels);
  const int n = c.batch * c.hw;
  const double eps = kBatchNormEps, m = kBatchNormMomentum;
  // x: a per-channel offset in [-3, 3] plus uniform [-1, 1) (std 0.58).
  const std::vector<float> offset = uniform(C, seed, kOffset, -3.0, 3.0);
  p.x = uniform(size, seed, kX, -1.0, 1.0);
  for (std::size_t i = 0; i < size; ++i) p.x[i] += offset[channel_of(c, i)];
  p.gamma = uniform(C, seed, kGamma, -1.5, 1.5);
  p.beta = uniform(C, seed, kBeta, -1.0, 1.0);
  const std::vector<double> x = as_double(p.x), gamma = as_double(p.gamma), beta = as_double(p.beta);
  const std::vector<double> mean_abs = channel_mean_abs(c, x);

  if (pass == Pass::eval_forward) {
    p.running_mean = uniform(C, seed, kRunningMean, -3.0, 3.0);
    p.running_var = uniform(C, seed, kRunningVar, 0.25, 2.0);
    const std::vector<double> rm = as_double(p.running_mean), rv = as_double(p.running_var);
    std::vector<double> want(size), scale(size);
    ref::batch_norm_eval_forward(c.batch, c.channels, c.hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                                 eps, want.data());
    for (std::size_t i = 0; i < size; ++i) {
      const std::size_t ch = channel_of(c, i);
      want[i] = activate(c.activation, want[i]);
      scale[i] = std::fabs(gamma[ch]) * (std::fabs(x[i]) + std::fabs(rm[ch])) / std::sqrt(rv[ch] + eps) +
                 std::fabs(beta[ch]);
    }
    p.outputs = {"y"};
    p.expected = {expected(std::move(want), std::move(scale), 8)};  // no sum: the element's 8 roundings
    return p;
  }

  ref::BatchNormStats stats;
  std::vector<double> y(size);
  ref::batch_norm_train_forward(c.batch, c.channels, c.hw, x.data(), gamma.data(), beta.data(), eps, y.data(), stats);
  std::vector<double> rstd(C);
  for (std::size_t ch = 0; ch < C; ++ch) rstd[ch] = 1.0 / std::sqrt(stats.var_biased[ch] + eps);

  if (pass == Pass::train_forward) {
    p.running_mean = uniform(C, seed, kRunningMean, -1.0, 1.0);
    p.running_var = uniform(C, seed, kRunningVar, 0.25, 2.0);
    p.num_batches_tracked = 41;
    std::vector<double> rm = as_double(p.running_mean), rv = as_double(p.running_var);
    std::vector<double> rm_scale(C), rv_scale(C), mean_scale(C), rstd_scale(C);
    for (std::size_t ch = 0; ch < C; ++ch) {
      mean_scale[ch] = mean_abs[ch];
      rstd_scale[ch] = rstd[ch];
      rm_scale[ch] = (1 - m) * std::fabs(rm[ch]) + m * (mean_abs[ch] + std::fabs(stats.mean[ch]));
      rv_scale[ch] = (1 - m) * rv[ch] + m * stats.var_biased[ch] * n / (n - 1.0);
    }
    ref::batch_norm_update_running(stats, n, m, rm.data(), rv.data());
    std::vector<double> y_scale(size);
    for (std::size_t i = 0; i < size; ++i) {
      const std::size_t ch = channel_of(c, i);
      const double xhat = (x[i] - stats.mean[ch]) * rstd[ch];
      y_scale[i] = std::fabs(gamma[ch]) * (rstd[ch] * mean_abs[ch] + std::fabs(xhat)) + std::fabs(beta[ch]);
      y[i] = activate(c.activation, y[i]);
    }
    p.outputs = {"y", "mean", "rstd", "running_mean", "running_var", "num_batches_tracked"};
    p.expected = {expected(std::move(y), std::move(y_scale), n),
                  expected(stats.mean, std::move(mean_scale), n),
                  expected(rstd, std::move(rstd_scale), n),
                  expected(std::move(rm), std::move(rm_scale), n),
                  expected(std::move(rv), std::move(rv_scale), n)};
    Expected count;  // exact: scale 0 fails any difference
    count.want = {double(p.num_batches_tracked + 1)};
    count.scale = {0.0};
    p.expected.push_back(std::move(count));
    return p;
  }

  // Backward: the saved statistics are the float ones the training forward writes, and the
  // reference takes exactly those (mean, and var from rstd), so it judges the kernel on the
  // inputs the kernel reads.
  p.mean.resize(C), p.rstd.resize(C);
  ref::BatchNormStats saved;
  saved.mean.resize(C), saved.var_biased.resize(C);
  for (std::size_t ch = 0; ch < C; ++ch) {
    p.mean[ch] = float(stats.mean[ch]);
    p.rstd[ch] = float(rstd[ch]);
    saved.mean[ch] = p.mean[ch];
    saved.var_biased[ch] = 1.0 / (double(p.rstd[ch]) * double(p.rstd[ch])) - eps;
  }
  // The saved output as the forward makes it (act' is read from it).
  p.y.resize(size);
  for (std::size_t i = 0; i < size; ++i) p.y[i] = float(activate(c.activation, y[i]));
  p.dy = uniform(size, seed, kDy, -1.0, 1.0);
  std::vector<double> g(size);
  for (std::size_t i = 0; i < size; ++i) g[i] = prologue(c.activation, p.dy[i], p.y[i]);
  std::vector<double> dx(size), dgamma(C), dbeta(C);
  ref::batch_norm_train_backward(c.batch, c.channels, c.hw, x.data(), gamma.data(), saved, eps, g.data(), dx.data(),
                                 dgamma.data(), dbeta.data());
  // |dY| for |G| (|act'| <= 1), as the GEMM judge does.
  std::vector<double> sum_g(C, 0.0), sum_gx(C, 0.0), xhat(size);
  for (std::size_t i = 0; i < size; ++i) {
    const std::size_t ch = channel_of(c, i);
    xhat[i] = (x[i] - saved.mean[ch]) * double(p.rstd[ch]);
    sum_g[ch] += std::fabs(p.dy[i]);
    sum_gx[ch] += std::fabs(p.dy[i]) * std::fabs(xhat[i]);
  }
  std::vector<double> dx_scale(size);
  for (std::size_t i = 0; i < size; ++i) {
    const std::size_t ch = channel_of(c, i);
    dx_scale[i] = std::fabs(gamma[ch]) * p.rstd[ch] *
                  (std::fabs(p.dy[i]) + sum_g[ch] / n + std::fabs(xhat[i]) * sum_gx[ch] / n);
  }
  // dbias = Σ dx per channel, zero in exact arithmetic: judged against the sum of the dx
  // elements' scales, over 2n (each dx carries its sums' error, then n more additions).
  std::vector<double> dbias(C, 0.0), dbias_scale(C, 0.0);
  for (std::size_t i = 0; i < size; ++i) {
    dbias[channel_of(c, i)] += dx[i];
    dbias_scale[channel_of(c, i)] += dx_scale[i] + std::fabs(dx[i]);
  }
  p.outputs = {"dx", "dgamma", "dbeta", "dbias"};
  p.expected = {expected(std::move(dx), std::move(dx_scale), n), expected(std::move(dgamma), sum_gx, n),
                expected(std::move(dbeta), sum_g, n), expected(std::move(dbias), std::move(dbias_scale), 2 * n)};
  return p;
}

std::vector<OutputResult> run(const device::Stream& s, Version v, const Prepared& p) {
  const Case& c = p.c;
  const std::size_t size = std::size_t(c.batch) * c.channels * c.hw, C = std::size_t(c.channels);
  const auto x = device::to_device(s, p.x);
  const auto gamma = device::to_device(s, p.gamma);
  const auto beta = device::to_device(s, p.beta);
  std::vector<device::Array<float>> outs;
  device::Array<std::int64_t> count = device::to_device(s, std::vector<std::int64_t>{p.num_batches_tracked});
  // NaN, so a partial sum read before it is written fails the check.
  auto workspace = nan_array(s, workspace_floats(v, c.batch, c.channels, c.hw));
  if (p.pass == Pass::train_forward) {
    outs.push_back(nan_array(s, size));
    outs.push_back(nan_array(s, C));
    outs.push_back(nan_array(s, C));
    outs.push_back(device::to_device(s, p.running_mean));
    outs.push_back(device::to_device(s, p.running_var));
    TrainForwardArgs a;
    a.batch = c.batch, a.channels = c.channels, a.hw = c.hw;
    a.x = x.data(), a.gamma = gamma.data(), a.beta = beta.data();
    a.eps = kBatchNormEps, a.momentum = kBatchNormMomentum;
    a.activation = c.activation;
    a.y = outs[0].data(), a.mean = outs[1].data(), a.rstd = outs[2].data();
    a.running_mean = outs[3].data(), a.running_var = outs[4].data();
    a.num_batches_tracked = count.data();
    a.workspace = workspace.data(), a.workspace_size = workspace.size();
    train_forward(s, v, a);
  } else if (p.pass == Pass::eval_forward) {
    const auto rm = device::to_device(s, p.running_mean);
    const auto rv = device::to_device(s, p.running_var);
    outs.push_back(nan_array(s, size));
    EvalForwardArgs a;
    a.batch = c.batch, a.channels = c.channels, a.hw = c.hw;
    a.x = x.data(), a.gamma = gamma.data(), a.beta = beta.data();
    a.running_mean = rm.data(), a.running_var = rv.data();
    a.eps = kBatchNormEps;
    a.activation = c.activation;
    a.y = outs[0].data();
    eval_forward(s, v, a);
    s.synchronize();  // rm, rv live until here
  } else {
    const auto dy = device::to_device(s, p.dy);
    const auto y = device::to_device(s, p.y);
    const auto mean = device::to_device(s, p.mean);
    const auto rstd = device::to_device(s, p.rstd);
    outs.push_back(nan_array(s, size));
    outs.push_back(nan_array(s, C));
    outs.push_back(nan_array(s, C));
    outs.push_back(nan_array(s, C));
    BackwardArgs a;
    a.batch = c.batch, a.channels = c.channels, a.hw = c.hw;
    a.dy = dy.data(), a.y = y.data(), a.activation = c.activation;
    a.x = x.data(), a.gamma = gamma.data(), a.mean = mean.data(), a.rstd = rstd.data();
    a.dx = outs[0].data(), a.dgamma = outs[1].data(), a.dbeta = outs[2].data(), a.dbias = outs[3].data();
    a.workspace = workspace.data(), a.workspace_size = workspace.size();
    backward(s, v, a);
    s.synchronize();  // the inputs live until here
  }
  s.synchronize();
  const tol::GemmTolerance& t = tol::gemm("fp32");
  std::vector<OutputResult> results = gemm::check::judge_outputs(s, outs, p.outputs, p.expected, t);
  if (p.pass == Pass::train_forward) {
    OutputResult r;
    r.output = p.outputs.back();
    r.got = {float(device::to_host(s, count)[0])};
    r.comparison = gemm::reference::compare(r.got, p.expected.back(), t);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace vae::kernels::batch_norm::check
