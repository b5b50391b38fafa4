#pragma once
// A configuration with a name and a batch, the parameter of the suites that prove the reference
// and the backends on a list of small models (test_reference, test_objectives, test_activations),
// printed and named in test names by its name alone (ctest's test-list handling, CMake 3.25,
// breaks on brackets in test names).
#include <cctype>
#include <ostream>
#include <string>

#include "model/config.h"

namespace vae::testing {

struct NamedConfig {
  std::string name;
  VaeConfig config;
  int batch;
};

inline void PrintTo(const NamedConfig& n, std::ostream* os) { *os << n.name; }

// For INSTANTIATE_TEST_SUITE_P: the name with everything but letters and digits as '_'.
struct NamedConfigTestName {
  template <typename Info>
  std::string operator()(const Info& info) const {
    std::string s = info.param.name;
    for (char& ch : s)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return s;
  }
};

}  // namespace vae::testing
