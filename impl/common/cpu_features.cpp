#include "common/cpu_features.h"

#include <fstream>
#include <sstream>

namespace vae {

CpuFlags read_cpu_flags(const std::string& path) {
  CpuFlags f;
  std::ifstream in(path);
  if (!in) {
    f.source = path + " could not be read";
    return f;
  }
  f.source = path;
  std::string line;
  while (std::getline(in, line)) {
    // "flags\t\t: fpu vme ..." on x86 ("Features" on Arm, which has no bf16 flags of these names).
    if (line.rfind("flags", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    for (std::string w; words >> w;) f.flags.insert(w);
    break;
  }
  return f;
}

}  // namespace vae
