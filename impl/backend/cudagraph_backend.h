#pragma once
// libtorch-cudagraph: the eager math with the whole training step (batch gather, forward,
// backward, Adam, loss sums, non-finite record) captured once per batch size in a CUDA
// graph and replayed; inputs go through static device buffers. GPU only; the validation
// path's evaluate/gradients run eagerly (they are one-off calls, nothing to replay).
#include "backend/registry.h"

namespace vae {

BackendInfo cudagraph_backend_info();

}  // namespace vae
