#pragma once
// The VAE math in LibTorch ops, for any dtype and device. Autograd through this is the
// independent check of the reference's hand-written backward (float64), and the body of
// the libtorch backends. It follows README "The math" using torch's own primitives
// (linear, binary_cross_entropy_with_logits, ...), not the reference's code.
#include <torch/torch.h>

#include "model/config.h"
#include "model/params.h"

namespace vae::libtorch {

struct Losses {
  torch::Tensor recon, kl, loss, elbo;  // each [B]
};

// Named views into a flat parameter tensor (1-D, layout.total() elements); they share its
// storage, so autograd through them lands in flat.grad().
struct ParamTensors {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> encoder_hidden, decoder_hidden;  // (W, b)
  std::pair<torch::Tensor, torch::Tensor> mu, logvar, out;
};
ParamTensors view_params(const ParamLayout& layout, const torch::Tensor& flat);
// The same from one tensor per view of the layout (layout.views() order, each in its shape).
ParamTensors params_from_views(const ParamLayout& layout, const std::vector<torch::Tensor>& views);
// Index in layout.views() of the view starting at `offset`.
size_t view_index(const ParamLayout& layout, size_t offset);

// The encoder's q(z|x) parameters for x [B, D]: mu and log-variance, [B, Z] each.
struct Encoding {
  torch::Tensor mu, logvar;
};
Encoding encode(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& x);

// Decoder logits [..., D] for latent codes z [..., Z].
torch::Tensor decode_logits(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& z);

// x [B, D], eps [K, B, Z]. When `encoding` is given it also receives the encoder's mu and
// log-variance (so an evaluation need not run the encoder twice).
Losses forward(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& x, const torch::Tensor& eps,
               Encoding* encoding = nullptr);

// log w for importance sampling, [B, S], and the per-image logmeanexp; eps [S, B, Z].
torch::Tensor iw_log_likelihood(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& x,
                                const torch::Tensor& eps);

}  // namespace vae::libtorch
