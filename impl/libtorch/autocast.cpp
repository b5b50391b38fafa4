#include "libtorch/autocast.h"

#include <ATen/Context.h>

namespace vae::libtorch {

void set_cuda_tf32(bool allow) {
  at::globalContext().setAllowTF32CuBLAS(allow);
  at::globalContext().setAllowTF32CuDNN(allow);
}

PrecisionScope::PrecisionScope(const torch::Device& device, bool allow_tf32,
                               std::optional<torch::Dtype> autocast_dtype, bool cache)
    : type_(device.type()) {
  if (device.is_cuda()) set_cuda_tf32(allow_tf32);
  if (!autocast_dtype) return;
  active_ = true;
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  was_dtype_ = at::autocast::get_autocast_dtype(type_);
  was_cache_ = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, *autocast_dtype);
  at::autocast::set_autocast_cache_enabled(cache);
  at::autocast::increment_nesting();
}

PrecisionScope::~PrecisionScope() {
  if (!active_) return;
  // As torch.autocast's __exit__: the outermost scope drops the cached casts.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, was_dtype_);
  at::autocast::set_autocast_cache_enabled(was_cache_);
}

}  // namespace vae::libtorch
