#pragma once
// The one flat parameter layout shared by the reference and every backend, derived from the
// model's layers (model/layers.h: names, shapes and order; batch-norm running statistics are a
// separate buffer layout there). For an MLP, tensors are stored back to back in this order,
// weights [out, in] row-major (PyTorch's nn.Linear layout), each followed by its bias:
//   enc.0.weight enc.0.bias ... enc.mu.weight enc.mu.bias enc.logvar.weight enc.logvar.bias
//   dec.0.weight dec.0.bias ... dec.out.weight dec.out.bias
// and a convolutional model adds conv weights [out, in, k, k] (transposed [in, out, k, k]) and
// batch norm's enc.<i>.bn.weight|bias. Comparisons, checkpoints and a single fused optimizer
// all index this one buffer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace vae {

class ModelLayers;  // model/layers.h

struct ParamView {
  std::string name;            // e.g. "enc.0.weight"
  std::vector<int64_t> shape;  // [out, in] for weights, [out] for biases
  size_t offset = 0;           // first element in the flat buffer
  size_t size = 0;             // number of elements
};

// One affine layer y = x W^T + b, as offsets into the flat buffer.
struct LinearLayer {
  std::string prefix;          // "enc.0", "enc.mu", "dec.out", ...
  int in = 0, out = 0;
  size_t weight_offset = 0, bias_offset = 0;
};

class ParamLayout {
 public:
  explicit ParamLayout(const VaeConfig& config);

  const std::vector<ParamView>& views() const { return views_; }
  const ParamView& view(const std::string& name) const;  // throws vae::Error for unknown names
  size_t total() const { return total_; }
  // The model's layers, everything derived (shapes, views, batch-norm buffers).
  const ModelLayers& model() const { return *model_; }
  bool is_mlp() const { return mlp_; }

  // The affine layers of an MLP (code that runs MLPs only: the fused GEMM path); throw
  // vae::Error for a model with other layers. mu and logvar exist in every model.
  const std::vector<LinearLayer>& encoder_hidden() const;
  const LinearLayer& mu() const { return mu_; }
  const LinearLayer& logvar() const { return logvar_; }
  const std::vector<LinearLayer>& decoder_hidden() const;
  const LinearLayer& out() const;

 private:
  void require_mlp(const char* what) const;

  std::shared_ptr<const ModelLayers> model_;
  bool mlp_ = true;
  std::vector<ParamView> views_;
  size_t total_ = 0;
  std::vector<LinearLayer> encoder_hidden_, decoder_hidden_;
  LinearLayer mu_, logvar_, out_;
};

// Deterministic initial parameters for config.seed (see common/counter_rng.h), in double;
// a float backend rounds them once. Tensor t of the layout draws from stream
// kStreamParamsBase + t.
//   torch:  nn.Linear's default, weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))
//   xavier: weight ~ U(-sqrt(6/(in+out)), +sqrt(6/(in+out))), bias = 0
std::vector<double> init_params(const VaeConfig& config, const ParamLayout& layout);

// A trained model as evaluation needs it: the flat parameters and batch norm's running
// statistics (ModelLayers::buffers() layout; empty for a model without batch norm).
struct ModelState {
  std::vector<double> params;
  std::vector<double> running_stats;
};

}  // namespace vae
