#include "kernels/gemm_check.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "common/counter_rng.h"
#include "kernels/check_inputs.h"
#include "common/error.h"
#include "model/config.h"

namespace vae::kernels::gemm::check {

std::string Shape::label() const {
  return std::to_string(batch) + "," + std::to_string(out) + "," + std::to_string(in);
}

Shape parse_shape(const std::string& text) {
  std::vector<int> v;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    std::size_t used = 0;
    long value = 0;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || value < 1 || value > (1 << 20))
      throw vae::Error("--shape '" + text + "': expected M,N,K, three integers in 1.." + std::to_string(1 << 20));
    v.push_back(int(value));
  }
  if (v.size() != 3) throw vae::Error("--shape '" + text + "': expected M,N,K (batch, outputs, inputs)");
  return Shape{v[0], v[2], v[1]};
}

std::vector<Layer> default_model_layers() {
  const VaeConfig c;
  const int batch = 128;  // the default training batch (train::TrainOptions)
  const Activation hidden = c.activation == vae::Activation::Tanh ? Activation::tanh : Activation::relu;
  std::vector<Layer> layers;
  int width = c.input_dim;
  for (int h : c.encoder_hidden) {
    layers.push_back({{batch, width, h}, hidden, layers.empty(), "encoder " + std::to_string(width) + "→" + std::to_string(h)});
    width = h;
  }
  layers.push_back({{batch, width, 2 * c.latent}, Activation::identity, false, "μ, log σ² heads"});
  width = c.latent;
  for (int h : c.decoder_hidden()) {
    layers.push_back({{batch, width, h}, hidden, false, "decoder " + std::to_string(width) + "→" + std::to_string(h)});
    width = h;
  }
  layers.push_back({{batch, width, c.input_dim}, Activation::identity, false, "decoder logits"});
  return layers;
}

std::vector<Shape> odd_shapes() { return {{1, 33, 7}, {7, 1, 33}, {33, 7, 1}, {129, 785, 401}}; }

namespace {

using check_inputs::nan_array;
using check_inputs::uniform;

enum Streams : std::uint64_t { kX = 101, kBytes, kWeight, kBias, kDy, kY };

}  // namespace

Prepared prepare(Pass pass, const Shape& shape, Activation activation, bool byte_input, std::uint64_t seed) {
  Prepared p;
  p.pass = pass;
  reference::Layer& l = p.layer;
  l.batch = shape.batch, l.in = shape.in, l.out = shape.out;
  l.activation = activation;
  const std::size_t xs = std::size_t(shape.batch) * shape.in, ys = std::size_t(shape.batch) * shape.out;
  if (byte_input) {
    l.x_bytes.resize(xs);
    for (std::size_t i = 0; i < xs; ++i) l.x_bytes[i] = std::uint8_t(counter_bits(seed, kBytes, i) & 0xff);
  } else {
    l.x = uniform(xs, seed, kX, 0.0, 1.0);
  }
  // PyTorch's default init range, so outputs have the model's magnitudes.
  const double bound = 1.0 / std::sqrt(double(shape.in));
  l.weight = uniform(std::size_t(shape.out) * shape.in, seed, kWeight, -bound, bound);
  if (pass == Pass::forward) {
    l.bias = uniform(std::size_t(shape.out), seed, kBias, -bound, bound);
    p.outputs = {"y"};
    p.expected = {reference::forward(l)};
    return p;
  }
  l.dy = uniform(ys, seed, kDy, -1.0, 1.0);
  // A saved output as the forward makes it: relu's half zeros, tanh's values in (-0.97, 0.97).
  l.y = uniform(ys, seed, kY, -2.0, 2.0);
  for (float& y : l.y) y = activation == Activation::relu ? std::max(y, 0.0f) : activation == Activation::tanh ? std::tanh(y) : y;
  reference::BackwardExpected b = reference::backward(l);
  p.outputs = {"dx", "dw", "db"};
  p.expected = {std::move(b.dx), std::move(b.dw), std::move(b.db)};
  return p;
}

std::vector<OutputResult> run(const device::Stream& s, Version v, const Prepared& p) {
  const reference::Layer& l = p.layer;
  const auto x = device::to_device(s, l.x);
  const auto x_bytes = device::to_device(s, l.x_bytes);
  const auto weight = device::to_device(s, l.weight);
  const std::size_t workspace_size = workspace_floats(v, p.pass, l.batch, l.in, l.out);
  auto workspace = nan_array(s, workspace_size);
  std::vector<device::Array<float>> outs;
  if (p.pass == Pass::forward) {
    const auto bias = device::to_device(s, l.bias);
    outs.push_back(nan_array(s, std::size_t(l.batch) * l.out));
    ForwardArgs a;
    a.batch = l.batch, a.in = l.in, a.out = l.out;
    a.x = l.x.empty() ? nullptr : x.data();
    a.x_bytes = l.x_bytes.empty() ? nullptr : x_bytes.data();
    a.weight = weight.data();
    a.bias = l.bias.empty() ? nullptr : bias.data();
    a.activation = l.activation;
    a.y = outs[0].data();
    a.workspace = workspace.data(), a.workspace_size = workspace_size;
    forward(s, v, a);
  } else {
    const auto dy = device::to_device(s, l.dy);
    const auto y = device::to_device(s, l.y);
    outs.push_back(nan_array(s, std::size_t(l.batch) * l.in));
    outs.push_back(nan_array(s, std::size_t(l.out) * l.in));
    outs.push_back(nan_array(s, std::size_t(l.out)));
    BackwardArgs a;
    a.batch = l.batch, a.in = l.in, a.out = l.out;
    a.dy = dy.data(), a.y = y.data(), a.activation = l.activation;
    a.x = l.x.empty() ? nullptr : x.data();
    a.x_bytes = l.x_bytes.empty() ? nullptr : x_bytes.data();
    a.weight = weight.data();
    a.dx = outs[0].data(), a.dw = outs[1].data(), a.db = outs[2].data();
    a.workspace = workspace.data(), a.workspace_size = workspace_size;
    backward(s, v, a);
  }
  s.synchronize();
  return judge_outputs(s, outs, p.outputs, p.expected, tol::gemm(precision(v)));
}

std::vector<OutputResult> judge_outputs(const device::Stream& s, const std::vector<device::Array<float>>& outputs,
                                        const std::vector<std::string>& names,
                                        const std::vector<reference::Expected>& expected,
                                        const tol::GemmTolerance& tolerance) {
  std::vector<OutputResult> results;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    OutputResult r;
    r.output = names[i];
    r.got = device::to_host(s, outputs[i]);
    r.comparison = reference::compare(r.got, expected[i], tolerance);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace vae::kernels::gemm::check
