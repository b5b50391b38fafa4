#pragma once
// The facts that make a result reproducible: code version, machine, library versions, data.
#include <nlohmann/json.hpp>

#include "data/dataset.h"

namespace vae {

// `dataset` may be null when no data was loaded.
nlohmann::json make_manifest(const Dataset* dataset);

}  // namespace vae
