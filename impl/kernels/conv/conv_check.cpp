#include "kernels/conv/conv_check.h"

#include <cmath>
#include <limits>

#include "common/counter_rng.h"
#include "kernels/check_inputs.h"
#include "common/error.h"
#include "conv_layers.h"  // reference/: the double-precision Conv2d / ConvTranspose2d
#include "kernels/conv/conv_plan.h"
#include "kernels/layer_activation.h"
#include "model/layers.h"

namespace vae::kernels::conv::check {

namespace {

LayerSpec layer_spec(const Case& c) {
  const ConvGeometry& g = c.geometry;
  const LayerActivation a = layer_activation(c.activation);
  return g.transposed ? conv_transpose2d(g.out_channels, g.kernel, g.stride, g.padding, g.output_padding, a)
                      : conv2d(g.out_channels, g.kernel, g.stride, g.padding, a);
}

}  // namespace

std::string Case::label() const {
  const Shape in{geometry.in_channels, geometry.in_h, geometry.in_w};
  return std::to_string(batch) + ":" + in.str() + ":" + to_string(layer_spec(*this));
}

Case parse_case(const std::string& text) {
  const std::string option = "--conv-shape '" + text + "'";
  const std::size_t first = text.find(':'), second = first == std::string::npos ? first : text.find(':', first + 1);
  if (second == std::string::npos)
    throw vae::Error(option + ": expected B:CxHxW:layer, e.g. 2:3x5x9:conv7k3s1p1:relu");
  const std::string batch_text = text.substr(0, first);
  std::size_t used = 0;
  long batch = 0;
  try {
    batch = std::stol(batch_text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (batch_text.empty() || used != batch_text.size() || batch < 1 || batch > (1 << 20))
    throw vae::Error(option + ": the batch '" + batch_text + "' must be an integer in 1.." + std::to_string(1 << 20));
  const Shape in = parse_shape(text.substr(first + 1, second - first - 1), option);
  const std::vector<LayerSpec> layers = parse_layers(text.substr(second + 1), option);
  if (layers.size() != 1 || layers[0].kind == LayerKind::Dense || layers[0].batch_norm)
    throw vae::Error(option + ": give one conv or convT layer without +bn (batch norm is its own kernel family)");
  const LayerSpec& s = layers[0];
  Case c;
  c.batch = int(batch);
  c.activation = kernel_activation(s.activation);
  c.name = "--conv-shape";
  c.geometry = s.kind == LayerKind::ConvTranspose2d
                   ? ConvGeometry::conv_transpose2d(int(in.c), s.out, int(in.h), int(in.w), s.kernel, s.stride,
                                                    s.padding, s.output_padding)
                   : ConvGeometry::conv2d(int(in.c), s.out, int(in.h), int(in.w), s.kernel, s.stride, s.padding);
  try {
    c.geometry.check();
  } catch (const vae::Error& e) {
    throw vae::Error(option + ": " + e.what());
  }
  return c;
}

std::vector<Case> preset_layers(int batch) {
  std::vector<Case> cases;
  for (const std::string& name : preset_names()) {
    const ModelLayers layers(preset_spec(name));
    for (const DerivedLayer& l : layers.layers()) {
      if (l.spec.kind == LayerKind::Dense) continue;
      Case c;
      c.geometry = conv_geometry(l);
      c.batch = batch;
      // With batch norm the activation comes after it (its own family): the conv is linear.
      c.activation = l.spec.batch_norm ? Activation::identity : kernel_activation(l.spec.activation);
      c.byte_input = l.role == LayerRole::Encoder && l.index == 0;
      c.name = name + " " + l.prefix;
      cases.push_back(c);
    }
  }
  return cases;
}

std::vector<Case> odd_cases() {
  std::vector<Case> cases;
  const auto add = [&](ConvGeometry g, int batch, Activation a, const char* why) {
    Case c;
    c.geometry = g, c.batch = batch, c.activation = a, c.name = why;
    cases.push_back(c);
  };
  add(ConvGeometry::conv2d(3, 7, 5, 9, 3, 1, 1), 2, Activation::relu, "odd channels, non-square, k3 s1");
  add(ConvGeometry::conv2d(1, 5, 11, 7, 5, 3, 2), 3, Activation::tanh, "k5 s3 p2");
  add(ConvGeometry::conv2d(5, 70, 6, 6, 2, 2, 0), 1, Activation::identity, "70 outputs (> 64), k2 s2 p0");
  add(ConvGeometry::conv2d(2, 3, 1, 1, 1, 1, 0), 2, Activation::relu, "1x1 image, k1");
  add(ConvGeometry::conv_transpose2d(7, 3, 4, 5, 3, 2, 1, 1), 2, Activation::tanh, "transposed k3 s2 p1 op1");
  add(ConvGeometry::conv_transpose2d(2, 70, 3, 3, 4, 2, 1, 0), 1, Activation::relu, "transposed to 70 channels");
  add(ConvGeometry::conv_transpose2d(3, 2, 5, 4, 5, 3, 2, 2), 2, Activation::identity, "transposed k5 s3 p2 op2");
  add(ConvGeometry::conv2d(3, 4, 17, 13, 3, 1, 0), 3, Activation::relu, "weight gradient depth 3x15x11 (split)");
  return cases;
}

namespace {

using check_inputs::nan_array;
using check_inputs::uniform;

enum Streams : std::uint64_t { kX = 201, kBytes, kWeight, kBias, kDy, kY };

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<double> magnitudes(const std::vector<double>& v) {
  std::vector<double> m(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) m[i] = std::fabs(v[i]);
  return m;
}

gemm::reference::Expected expected(std::vector<double> want, const std::vector<double>& terms, int n) {
  gemm::reference::Expected e;
  e.accumulation_length = n;
  e.scale = terms;
  for (std::size_t i = 0; i < want.size(); ++i) e.scale[i] += std::fabs(want[i]);
  e.want = std::move(want);
  return e;
}

}  // namespace

using gemm::reference::activate;
using gemm::reference::prologue;

Prepared prepare(Pass pass, const Case& c, std::uint64_t seed) {
  const ConvGeometry& g = c.geometry;
  g.check();
  Prepared p;
  p.pass = pass;
  p.c = c;
  const std::size_t xs = std::size_t(c.batch) * std::size_t(g.in_size());
  const std::size_t ys = std::size_t(c.batch) * std::size_t(g.out_size());
  std::vector<double> x(xs);
  if (c.byte_input) {
    p.x_bytes.resize(xs);
    for (std::size_t i = 0; i < xs; ++i) {
      p.x_bytes[i] = std::uint8_t(counter_bits(seed, kBytes, i) & 0xff);
      x[i] = double(float(p.x_bytes[i]) / 255.0f);  // the kernels' byte / 255, rounded to float
    }
  } else {
    p.x = uniform(xs, seed, kX, 0.0, 1.0);
    x = as_double(p.x);
  }
  // PyTorch's default init range (fan_in = weight dim 1 × k²), so outputs have the model's magnitudes.
  const int fan_in = (g.transposed ? g.out_channels : g.in_channels) * g.kernel * g.kernel;
  const double bound = 1.0 / std::sqrt(double(fan_in));
  p.weight = uniform(std::size_t(g.weight_size()), seed, kWeight, -bound, bound);
  const std::vector<double> w = as_double(p.weight);
  const plan::Core core = plan::core_of(g, c.batch);
  const auto depth = [&](plan::Output o) { return plan::dims(plan::direction_of(g.transposed, o), core).depth; };
  if (pass == Pass::forward) {
    p.bias = uniform(std::size_t(g.out_channels), seed, kBias, -bound, bound);
    const std::vector<double> b = as_double(p.bias);
    std::vector<double> want(ys), terms(ys);
    ref::conv_forward(g, c.batch, x.data(), w.data(), b.data(), want.data());
    ref::conv_forward(g, c.batch, magnitudes(x).data(), magnitudes(w).data(), magnitudes(b).data(), terms.data());
    for (double& v : want) v = activate(c.activation, v);
    p.outputs = {"y"};
    p.expected = {expected(std::move(want), terms, depth(plan::Output::y))};
    return p;
  }
  p.dy = uniform(ys, seed, kDy, -1.0, 1.0);
  // A saved output as the forward makes it: relu's half zeros, tanh's values in (-0.97, 0.97).
  p.y = uniform(ys, seed, kY, -2.0, 2.0);
  for (float& v : p.y) v = float(activate(c.activation, v));
  std::vector<double> grad(ys);
  for (std::size_t i = 0; i < ys; ++i) grad[i] = prologue(c.activation, p.dy[i], p.y[i]);
  // The scales use |dY| for |G| (|act'| <= 1), as the GEMM judge does.
  const std::vector<double> dy_abs = magnitudes(as_double(p.dy));
  std::vector<double> dx(xs), dw(w.size()), db(std::size_t(g.out_channels));
  std::vector<double> dx_terms(xs), dw_terms(w.size()), db_terms(db.size());
  ref::conv_backward(g, c.batch, x.data(), w.data(), grad.data(), dx.data(), dw.data(), db.data());
  ref::conv_backward(g, c.batch, magnitudes(x).data(), magnitudes(w).data(), dy_abs.data(), dx_terms.data(),
                     dw_terms.data(), db_terms.data());
  p.outputs = {"dx", "dw", "db"};
  p.expected = {expected(std::move(dx), dx_terms, depth(plan::Output::dx)),
                expected(std::move(dw), dw_terms, depth(plan::Output::dw)),
                expected(std::move(db), db_terms, plan::bias_length(g.transposed, core))};
  return p;
}

std::vector<OutputResult> run(const device::Stream& s, Version v, const Prepared& p) {
  const Case& c = p.c;
  const ConvGeometry& g = c.geometry;
  const auto x = device::to_device(s, p.x);
  const auto x_bytes = device::to_device(s, p.x_bytes);
  const auto weight = device::to_device(s, p.weight);
  const std::size_t workspace_size = workspace_floats(v, p.pass, g, c.batch);
  auto workspace = nan_array(s, workspace_size);
  std::vector<device::Array<float>> outs;
  if (p.pass == Pass::forward) {
    const auto bias = device::to_device(s, p.bias);
    outs.push_back(nan_array(s, std::size_t(c.batch) * std::size_t(g.out_size())));
    ForwardArgs a;
    a.geometry = g, a.batch = c.batch;
    a.x = p.x.empty() ? nullptr : x.data();
    a.x_bytes = p.x_bytes.empty() ? nullptr : x_bytes.data();
    a.weight = weight.data();
    a.bias = bias.data();
    a.activation = c.activation;
    a.y = outs[0].data();
    a.workspace = workspace.data(), a.workspace_size = workspace_size;
    forward(s, v, a);
  } else {
    const auto dy = device::to_device(s, p.dy);
    const auto y = device::to_device(s, p.y);
    outs.push_back(nan_array(s, std::size_t(c.batch) * std::size_t(g.in_size())));
    outs.push_back(nan_array(s, std::size_t(g.weight_size())));
    outs.push_back(nan_array(s, std::size_t(g.out_channels)));
    BackwardArgs a;
    a.geometry = g, a.batch = c.batch;
    a.dy = dy.data(), a.y = y.data(), a.activation = c.activation;
    a.x = p.x.empty() ? nullptr : x.data();
    a.x_bytes = p.x_bytes.empty() ? nullptr : x_bytes.data();
    a.weight = weight.data();
    a.dx = outs[0].data(), a.dw = outs[1].data(), a.db = outs[2].data();
    a.workspace = workspace.data(), a.workspace_size = workspace_size;
    backward(s, v, a);
  }
  s.synchronize();
  return gemm::check::judge_outputs(s, outs, p.outputs, p.expected, tol::gemm(precision(v)));
}

}  // namespace vae::kernels::conv::check
