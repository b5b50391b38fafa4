#include "common/process_memory.h"

#include <fstream>
#include <sstream>
#include <string>

namespace vae {

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return bool(f);
}

std::optional<std::size_t> peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream s(line.substr(6));
      std::size_t kib = 0;
      if (s >> kib) return kib * 1024;
    }
  return std::nullopt;
}

}  // namespace vae
