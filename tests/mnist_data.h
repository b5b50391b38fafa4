#pragma once
// The repository's MNIST (data/mnist), loaded once per test binary: the one loader every test
// that runs on real digits uses.
#include "data/dataset.h"

namespace vae::testing {

inline const Dataset& mnist() {
  static const Dataset d = load_dataset(VAE_SOURCE_DIR "/data/mnist", DatasetKind::Mnist);
  return d;
}

}  // namespace vae::testing
