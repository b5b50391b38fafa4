#pragma once
// One exception type for every user-facing failure (bad file, bad option, bad shape).
// The message is a single line that names the thing at fault and what is wrong with it,
// e.g. "data/mnist/train-images-idx3-ubyte.gz: wrong magic 0x00000801, expected 0x00000803".
#include <stdexcept>
#include <string>

namespace vae {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace vae
