#pragma once
// Checkpoints: the flat parameters as one safetensors tensor per named view (so Python
// users get `enc.0.weight` etc. with safetensors.torch.load_file), the model config as JSON
// in the metadata, and optionally the Adam state. Written atomically: a crash mid-write
// leaves the previous checkpoint intact.
//
// Tensors:  <view name>                 parameters, F32 or F64, the view's shape
//           <buffer name>               batch norm's running statistics (models with batch norm),
//                                       as nn.BatchNorm2d's state_dict: running_mean/_var F32 or
//                                       F64 [C], num_batches_tracked I64 []
//           adam.exp_avg, adam.exp_avg_sq  flat [N], only when Adam state is saved
// Metadata: "format": "vaebench checkpoint v1", "config": VaeConfig JSON, "step": optimizer
//           steps taken, plus any caller-supplied entries.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/config.h"

namespace vae {

struct AdamState {
  int64_t step = 0;
  std::vector<double> exp_avg, exp_avg_sq;  // flat, layout order
};

struct Checkpoint {
  VaeConfig config;
  std::vector<double> params;     // flat, layout order
  std::vector<double> running_stats;  // ModelLayers::buffers() order; empty without batch norm
  std::optional<AdamState> adam;
  std::map<std::string, std::string> extra_metadata;
};

// dtype: DType::F32 (float backends) or DType::F64 (the reference); values are rounded to it.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint, DType dtype);

// Throws vae::Error naming the file and what is wrong (not a checkpoint, missing or
// misshapen tensor, bad config).
Checkpoint load_checkpoint(const std::string& path);

}  // namespace vae
