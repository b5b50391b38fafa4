#include "libtorch/vml_dispatch.h"

#include <mutex>

#include <torch/torch.h>

namespace vae::libtorch {

void resolve_mkl_vml_dispatch() {
  static std::once_flag once;
  std::call_once(once, [] {
    torch::NoGradGuard no_grad;
    // One element is below every parallel grain, so each op runs on this thread alone. The
    // list is ATen's IMPLEMENT_VML_MKL set (ATen/cpu/vml.h), both precisions VML serves.
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const torch::Tensor t = torch::full({1}, 0.5, torch::TensorOptions().dtype(dtype));
      for (const torch::Tensor& r :
           {t.acos(), t.asin(), t.atan(), t.cos(), t.erf(), t.erfc(), t.erfinv(), t.exp(), t.log(), t.log10(),
            t.log2(), t.sin(), t.sqrt(), t.tan(), t.tanh(), t.trunc()})
        (void)r;
    }
  });
}

}  // namespace vae::libtorch
