#pragma once
// The one flat parameter layout shared by the reference and every backend.
// Tensors are stored back to back in this order, weights [out, in] row-major (PyTorch's
// nn.Linear layout), each followed by its bias:
//   enc.0.weight enc.0.bias ... enc.mu.weight enc.mu.bias enc.logvar.weight enc.logvar.bias
//   dec.0.weight dec.0.bias ... dec.out.weight dec.out.bias
// Comparisons, checkpoints and a single fused optimizer all index this one buffer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace vae {

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

  const std::vector<LinearLayer>& encoder_hidden() const { return encoder_hidden_; }
  const LinearLayer& mu() const { return mu_; }
  const LinearLayer& logvar() const { return logvar_; }
  const std::vector<LinearLayer>& decoder_hidden() const { return decoder_hidden_; }
  const LinearLayer& out() const { return out_; }

 private:
  LinearLayer add_linear(const std::string& prefix, int in, int out);

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

}  // namespace vae
