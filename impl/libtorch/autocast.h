#pragma once
// How a LibTorch backend computes in its precision, set for the extent of one forward (and
// the autograd graph it records): TF32 for cuBLAS and cuDNN (process-wide switches, so every
// backend sets its own; cuDNN's convolutions default to TF32 in PyTorch, so an fp32 conv model
// would silently run in tf32 without it), and for bf16 LibTorch's automatic mixed precision, as
// torch.autocast(device_type, dtype=torch.bfloat16) runs it: linear, matmul and convolutions
// cast their operands to bf16 (fp32 accumulation inside), everything else runs in the dtype
// it is given. Autocast's state is thread-local; the scope restores what it found.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <optional>

namespace vae::libtorch {

// TF32 on or off for both CUDA libraries LibTorch calls: cuBLAS (matmul, linear) and cuDNN
// (convolutions). Process-wide; no GPU is needed to set it.
void set_cuda_tf32(bool allow);

class PrecisionScope {
 public:
  // autocast_dtype: bf16 for mixed precision, or none. cache: whether autocast may keep the
  // bf16 copy of a weight across ops of the scope (off while a CUDA graph captures: a cached
  // cast made during warm-up would point outside the graph's memory pool).
  PrecisionScope(const torch::Device& device, bool allow_tf32, std::optional<torch::Dtype> autocast_dtype,
                 bool cache = true);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  at::DeviceType type_;
  bool active_ = false, was_enabled_ = false, was_cache_ = true;
  at::ScalarType was_dtype_ = at::kFloat;
};

// A reduced-precision tensor (an autocast output: logits, the heads' mu and log-variance)
// in the master dtype of `like` (the parameters'), as autocast's recipe wants the losses,
// KL and exp computed: in fp32. A no-op when it already is.
inline torch::Tensor in_master_dtype(const torch::Tensor& t, const torch::Tensor& like) {
  return t.scalar_type() == like.scalar_type() ? t : t.to(like.scalar_type());
}

}  // namespace vae::libtorch
