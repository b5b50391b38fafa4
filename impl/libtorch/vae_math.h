#pragma once
// The VAE math in LibTorch ops, for any dtype and device. Autograd through this is the
// independent check of the reference's hand-written backward (float64), and the body of
// the libtorch backends. It follows README "The math" using torch's own primitives
// (linear, binary_cross_entropy_with_logits, ...), not the reference's code.
#include <torch/torch.h>

#include "model/config.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae::libtorch {

struct Losses {
  torch::Tensor recon, kl, loss, elbo;  // each [B]
};

// Named views into a flat parameter tensor (1-D, layout.total() elements), one per view of
// the layout in its shape (PyTorch's: [out, in] dense, [out, in, k, k] conv, [in, out, k, k]
// transposed conv, [C] batch norm); they share its storage, so autograd through them lands in
// flat.grad(). The math walks layout->model().layers(). The layout is the caller's (a
// backend's or evaluator's, which outlives the step): borrowed, not copied on every step.
struct ParamTensors {
  const ParamLayout* layout = nullptr;
  std::vector<torch::Tensor> views;
};
ParamTensors view_params(const ParamLayout& layout, const torch::Tensor& flat);
// The same from one tensor per view of the layout (layout.views() order, each in its shape).
ParamTensors params_from_views(const ParamLayout& layout, const std::vector<torch::Tensor>& views);
// Index in layout.views() of the view starting at `offset`.
size_t view_index(const ParamLayout& layout, size_t offset);

// How batch norm runs, in models that have it. By default with the batch's statistics and no
// running statistics touched (the validation path: a training-mode forward's value and
// gradient). `running` holds the model's buffers (ModelLayers::buffers(): running mean,
// running variance, num_batches_tracked per layer), one tensor per buffer view in the
// parameters' dtype and device, each with its own storage as nn.BatchNorm2d's buffers have
// (views of one tensor would share its version counter, and autograd would refuse the
// backward after the first in-place update). With `evaluate` batch norm uses them instead of
// the batch's statistics (evaluation, sampling), else a forward updates them in place as
// nn.BatchNorm2d's training step does.
struct BatchNormState {
  std::vector<torch::Tensor> running;
  bool evaluate = false;
};
// The buffer tensors of a flat buffer (BufferLayout order), each a copy with its own storage,
// and the flat buffer back from them.
std::vector<torch::Tensor> split_buffers(const BufferLayout& buffers, const torch::Tensor& flat);
torch::Tensor join_buffers(const std::vector<torch::Tensor>& running);

// The encoder's q(z|x) parameters for x [B, D]: mu and log-variance, [B, Z] each.
struct Encoding {
  torch::Tensor mu, logvar;
};
Encoding encode(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& x,
                const BatchNormState& bn = {});

// Decoder logits [..., D] for latent codes z [..., Z].
torch::Tensor decode_logits(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& z,
                            const BatchNormState& bn = {});

// x [B, D], eps [K, B, Z]. When `encoding` is given it also receives the encoder's mu and
// log-variance (so an evaluation need not run the encoder twice).
Losses forward(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& x, const torch::Tensor& eps,
               Encoding* encoding = nullptr, const BatchNormState& bn = {});

// The scalar every gradient is of: sum_b loss_b, or its mean under a batch-mean objective.
torch::Tensor batch_objective(const VaeConfig& config, const torch::Tensor& loss);

// log w for importance sampling, [B, S], and the per-image logmeanexp; eps [S, B, Z].
torch::Tensor iw_log_likelihood(const VaeConfig& config, const ParamTensors& p, const torch::Tensor& x,
                                const torch::Tensor& eps, const BatchNormState& bn = {});

}  // namespace vae::libtorch
