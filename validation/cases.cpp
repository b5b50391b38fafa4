#include "cases.h"

#include <numeric>
#include <stdexcept>

#include "common/counter_rng.h"
#include "model/layers.h"
#include "model/noise.h"
#include "model/params.h"

namespace vae {

namespace {

VaeConfig layered(const std::string& model, const Shape& input, const std::string& encoder,
                  const std::string& decoder, int latent) {
  ModelSpec s;
  s.input = input;
  s.encoder = parse_layers(encoder, "encoder of " + model);
  s.decoder = parse_layers(decoder, "decoder of " + model);
  s.latent = latent;
  VaeConfig c;
  c.model = model;
  c.input_dim = int(input.numel());
  c.latent = latent;
  c.layers = std::make_shared<const ModelSpec>(std::move(s));
  return c;
}

}  // namespace

VaeConfig conv_model(const std::string& name) {
  VaeConfig c;
  if (name == "conv-mnist" || name == "conv-celeba64") {
    const ModelSpec s = preset_spec(name);
    c = layered(name, s.input, to_string(s.encoder), to_string(s.decoder), s.latent);
  } else if (name == "conv-odd") {
    // 28 -> 26 (k3 s1 p0) -> 13 (k5 s2 p2); back 13 -> 26 (k5 s2 p2, output padding 1) -> 28.
    c = layered(name, {1, 28, 28}, "conv6k3s1p0:tanh,conv8k5s2p2:tanh", "dense8x13x13:none,convT6k5s2p2o1:tanh,convT1k3s1p0:none",
                7);
    c.likelihood = Likelihood::Gaussian;
    c.samples = 3;
    c.beta = 0.5;
    c.seed = 3;
  } else if (name == "conv-dense-between") {
    // 13x11 -> 7x6 (k3 s2 p1) -> dense to 3x5x4 -> 5x5x4 (k3 s1 p1); back dense to 4x7x6 -> 13x11.
    c = layered(name, {1, 13, 11}, "conv4k3s2p1:relu,dense3x5x4:relu,conv5k3s1p1:relu",
                "dense4x7x6:none,convT1k3s2p1:none", 5);
    c.seed = 4;
  } else if (name == "conv-bn") {
    c = layered(name, {1, 28, 28}, "conv8k4s2p1+bn:relu,conv16k4s2p1+bn:relu",
                "dense16x7x7:none,convT8k4s2p1+bn:relu,convT1k4s2p1:none", 10);
    c.seed = 5;
  } else if (name == "conv-bn-k3") {
    c = conv_model("conv-bn");
    c.model = name;
    c.samples = 3;
    c.beta = 2.0;
    c.seed = 6;
  } else {
    throw std::invalid_argument("no convolutional validation model named " + name);
  }
  c.validate();
  return c;
}

std::vector<ValidationCase> reference_matrix() {
  std::vector<ValidationCase> m;
  const VaeConfig base;  // 784-[400]-20 relu bernoulli, beta 1, K 1

  m.push_back({"default-b128", base, 128});

  VaeConfig tanh_gauss = base;
  tanh_gauss.activation = Activation::Tanh;
  tanh_gauss.likelihood = Likelihood::Gaussian;
  m.push_back({"tanh-gaussian-b5", tanh_gauss, 5});

  VaeConfig beta_k = base;
  beta_k.beta = 4.0;
  beta_k.samples = 3;
  m.push_back({"beta4-k3-b5", beta_k, 5});

  VaeConfig two_hidden = base;
  two_hidden.encoder_hidden = {512, 256};
  two_hidden.activation = Activation::Tanh;
  two_hidden.seed = 1;
  m.push_back({"hidden512x256-tanh-b5", two_hidden, 5});

  VaeConfig odd = base;
  odd.encoder_hidden = {33, 17};
  odd.decoder_hidden_override = std::vector<int>{19};
  odd.latent = 7;
  odd.likelihood = Likelihood::Gaussian;
  odd.beta = 0.5;
  odd.samples = 2;
  odd.init = InitScheme::Xavier;
  odd.seed = 7;
  m.push_back({"odd-h33x17-z7-b1", odd, 1});

  VaeConfig latent2 = base;
  latent2.encoder_hidden = {64};
  latent2.latent = 2;
  latent2.seed = 2;
  m.push_back({"latent2-b5", latent2, 5});

  m.push_back({"conv-mnist-b3", conv_model("conv-mnist"), 3});
  m.push_back({"conv-odd-b2", conv_model("conv-odd"), 2});
  m.push_back({"conv-dense-between-b3", conv_model("conv-dense-between"), 3});
  m.push_back({"conv-bn-b2", conv_model("conv-bn"), 2});
  return m;
}

void fit_to_data(VaeConfig& config, int input_dim) {
  if (config.is_mlp()) config.input_dim = input_dim;
}

CaseInputs make_inputs(const ValidationCase& c, const Dataset* data, Binarize binarize) {
  CaseInputs in;
  const size_t batch = size_t(c.batch), dim = size_t(c.config.input_dim);
  in.x.resize(batch * dim);
  if (data && data->test.dim() == dim && data->test.count >= batch) {
    // Seeded Fisher-Yates prefix: B distinct test images, the same for the same seed.
    std::vector<size_t> order(data->test.count);
    std::iota(order.begin(), order.end(), size_t(0));
    for (size_t i = 0; i < batch; ++i) {
      const size_t j = i + counter_bits(c.config.seed, kStreamSyntheticX, i) % (order.size() - i);
      std::swap(order[i], order[j]);
    }
    order.resize(batch);
    if (binarize == Binarize::None) gather_scaled(data->test, order, in.x.data());
    else gather_binarized(data->test, order, binarize, c.config.seed, 0, in.x.data());
    in.x_source = data->identity + " test images (" + to_string(binarize) + ") #" + std::to_string(order[0]);
    for (size_t i = 1; i < std::min<size_t>(batch, 4); ++i) in.x_source += ",#" + std::to_string(order[i]);
    if (batch > 4) in.x_source += ",...";
  } else {
    for (size_t i = 0; i < in.x.size(); ++i) in.x[i] = counter_uniform(c.config.seed, kStreamSyntheticX, i);
    in.x_source = "synthetic U[0,1)";
  }
  in.eps = make_eps(c.config.seed, 0, c.config.samples, c.batch, c.config.latent);
  in.params = init_params(c.config, ParamLayout(c.config));
  if (c.config.likelihood == Likelihood::ContinuousBernoulli) place_pixels_in_taylor_window(c.config, in.params);
  return in;
}

void place_pixels_in_taylor_window(const VaeConfig& config, std::vector<double>& params) {
  const ParamLayout layout(config);
  const ModelLayers& model = layout.model();
  const DerivedLayer& out = model.layer("dec.out");
  if (out.spec.kind != LayerKind::Dense) return;  // a conv output has no per-pixel weights to pin
  const ParamView &w = model.views()[out.weight], &b = model.views()[out.bias];
  const size_t in_features = size_t(w.shape[1]);
  for (size_t d = 0; d < b.size; d += 4) {
    std::fill_n(params.begin() + long(w.offset + d * in_features), in_features, 0.0);
    // p = sigmoid(o) = 0.5 +- 8e-4, inside (0.499, 0.501), on either side of 0.5.
    params[b.offset + d] = (d / 4) % 2 ? 3.2e-3 : -3.2e-3;
  }
}

}  // namespace vae
