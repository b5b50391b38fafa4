#pragma once
// torchscript: the same model run by the TorchScript JIT. The program writes TorchScript
// source for the configured architecture (layers unrolled, constants inlined), compiles it
// with torch::jit::compile at start-up (no Python at run time) and differentiates the
// scripted function with autograd. TorchScript is deprecated upstream but still shipped in
// LibTorch 2.11; its warnings are passed through, not silenced.
#include <string>

#include "backend/registry.h"

namespace vae {

BackendInfo torchscript_backend_info();

// The TorchScript source of `vae_losses(params, x, eps, running, bn_mode) -> (recon[B], kl[B])` (params: one tensor per
// view of the layout; running: batch norm's buffers, one tensor each (none without); bn_mode 0 batch statistics, 1 batch
// statistics updating `running`, 2 running statistics) for a config.
std::string torchscript_source(const VaeConfig& config);

}  // namespace vae
