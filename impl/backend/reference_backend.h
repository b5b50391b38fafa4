#pragma once
// The double-precision Eigen reference, registered as backend "reference" (CPU, fp64), so it
// can be trained and compared like any other backend.
#include "backend/registry.h"

namespace vae {

BackendInfo reference_backend_info();

// The reference as a Backend without the registry (which links every backend): what the
// LibTorch-free judge creates.
std::unique_ptr<Backend> create_reference_backend(const VaeConfig& config);

}  // namespace vae
