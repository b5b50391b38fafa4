#include "model/params.h"

#include <cmath>

#include "common/counter_rng.h"
#include "common/error.h"
#include "model/layers.h"

namespace vae {

ParamLayout::ParamLayout(const VaeConfig& config) {
  config.validate();
  model_ = std::make_shared<const ModelLayers>(model_spec(config));
  mlp_ = config.is_mlp();
  views_ = model_->views();
  total_ = model_->total();
  // Each dense layer as offsets into the buffer (an MLP's layers are all dense).
  const auto linear = [&](const DerivedLayer& l) {
    return LinearLayer{l.prefix, int(l.in.numel()), l.spec.out, views_[l.weight].offset, views_[l.bias].offset};
  };
  for (const DerivedLayer& l : model_->layers()) {
    if (l.role == LayerRole::Head) (l.index == 0 ? mu_ : logvar_) = linear(l);
    if (!mlp_ || l.role == LayerRole::Head) continue;
    if (l.role == LayerRole::Encoder) encoder_hidden_.push_back(linear(l));
    else if (l.role == LayerRole::Decoder) decoder_hidden_.push_back(linear(l));
    else out_ = linear(l);
  }
}

void ParamLayout::require_mlp(const char* what) const {
  if (!mlp_) throw Error(std::string("ParamLayout::") + what + ": the model has layers other than dense ones (" +
                         std::to_string(model_->layers().size()) + " layers); walk model().layers() instead");
}

const std::vector<LinearLayer>& ParamLayout::encoder_hidden() const {
  require_mlp("encoder_hidden");
  return encoder_hidden_;
}
const std::vector<LinearLayer>& ParamLayout::decoder_hidden() const {
  require_mlp("decoder_hidden");
  return decoder_hidden_;
}
const LinearLayer& ParamLayout::out() const {
  require_mlp("out");
  return out_;
}

const ParamView& ParamLayout::view(const std::string& name) const {
  for (const ParamView& v : views_)
    if (v.name == name) return v;
  throw Error("no parameter named '" + name + "' (first is '" + views_.front().name + "', last is '" +
              views_.back().name + "')");
}

std::vector<double> init_params(const VaeConfig& config, const ParamLayout& layout) {
  // A model with conv or batch-norm layers: each PyTorch module's default (model/layers.h).
  // An MLP keeps this code, whose draws are the committed figures' (bit for bit the same, but
  // Xavier's zero biases here are -0.0).
  if (!layout.is_mlp()) return init_params(layout.model(), config.init, config.seed);
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
