#include "model/params.h"

#include <cmath>

#include "common/counter_rng.h"
#include "common/error.h"

namespace vae {

LinearLayer ParamLayout::add_linear(const std::string& prefix, int in, int out) {
  LinearLayer layer{prefix, in, out, 0, 0};
  layer.weight_offset = total_;
  views_.push_back({prefix + ".weight", {out, in}, total_, size_t(out) * size_t(in)});
  total_ += views_.back().size;
  layer.bias_offset = total_;
  views_.push_back({prefix + ".bias", {out}, total_, size_t(out)});
  total_ += views_.back().size;
  return layer;
}

ParamLayout::ParamLayout(const VaeConfig& config) {
  config.validate();
  int width = config.input_dim;
  for (size_t i = 0; i < config.encoder_hidden.size(); ++i) {
    encoder_hidden_.push_back(add_linear("enc." + std::to_string(i), width, config.encoder_hidden[i]));
    width = config.encoder_hidden[i];
  }
  mu_ = add_linear("enc.mu", width, config.latent);
  logvar_ = add_linear("enc.logvar", width, config.latent);
  width = config.latent;
  const std::vector<int> dec = config.decoder_hidden();
  for (size_t i = 0; i < dec.size(); ++i) {
    decoder_hidden_.push_back(add_linear("dec." + std::to_string(i), width, dec[i]));
    width = dec[i];
  }
  out_ = add_linear("dec.out", width, config.input_dim);
}

const ParamView& ParamLayout::view(const std::string& name) const {
  for (const ParamView& v : views_)
    if (v.name == name) return v;
  throw Error("no parameter named '" + name + "' (first is '" + views_.front().name + "', last is '" +
              views_.back().name + "')");
}

std::vector<double> init_params(const VaeConfig& config, const ParamLayout& layout) {
  std::vector<double> params(layout.total());
  const auto& views = layout.views();
  for (size_t t = 0; t < views.size(); ++t) {
    const ParamView& v = views[t];
    const bool is_weight = v.shape.size() == 2;
    // Both tensors of a layer scale by the layer's fan-in (and fan-out for Xavier).
    const ParamView& weight = is_weight ? v : views[t - 1];
    const double fan_in = double(weight.shape[1]), fan_out = double(weight.shape[0]);
    double bound = 0.0;
    if (config.init == InitScheme::Torch) bound = 1.0 / std::sqrt(fan_in);
    else if (is_weight) bound = std::sqrt(6.0 / (fan_in + fan_out));
    for (size_t i = 0; i < v.size; ++i) {
      const double u = counter_uniform(config.seed, kStreamParamsBase + t, i);
      params[v.offset + i] = bound * (2.0 * u - 1.0);
    }
  }
  return params;
}

}  // namespace vae
