#pragma once
// The double-precision Eigen reference, registered as backend "reference" (CPU, fp64), so it
// can be trained and compared like any other backend.
#include "backend/registry.h"

namespace vae {

BackendInfo reference_backend_info();

}  // namespace vae
