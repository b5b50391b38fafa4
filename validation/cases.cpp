#include "cases.h"

#include <numeric>

#include "common/counter_rng.h"
#include "model/noise.h"
#include "model/params.h"

namespace vae {

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
  return m;
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
  return in;
}

}  // namespace vae
