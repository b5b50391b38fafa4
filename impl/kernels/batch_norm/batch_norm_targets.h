#pragma once
// The two builds of kernels/batch_norm/batch_norm.cu (see conv/conv_targets.h): include after
// kernels/launch.h in a kernel file.
#include "kernels/batch_norm/batch_norm.h"

#define VAE_BATCH_NORM_TARGET_DECLARATIONS                                                                        \
  void train_forward(const device::Stream& stream, ::vae::kernels::batch_norm::Version v,                        \
                     const ::vae::kernels::batch_norm::TrainForwardArgs& args);                                  \
  void eval_forward(const device::Stream& stream, ::vae::kernels::batch_norm::Version v,                         \
                    const ::vae::kernels::batch_norm::EvalForwardArgs& args);                                    \
  void backward(const device::Stream& stream, ::vae::kernels::batch_norm::Version v,                             \
                const ::vae::kernels::batch_norm::BackwardArgs& args);

namespace vae::kernels::emu::batch_norm {
VAE_BATCH_NORM_TARGET_DECLARATIONS
}  // namespace vae::kernels::emu::batch_norm

namespace vae::kernels::cuda::batch_norm {
VAE_BATCH_NORM_TARGET_DECLARATIONS
}  // namespace vae::kernels::cuda::batch_norm

#undef VAE_BATCH_NORM_TARGET_DECLARATIONS
