// libFuzzer target: the IDX reader (MNIST container), gzip-compressed or raw, through the
// same path-based API the dataset loader uses (the bytes go to a file in /dev/shm first, so
// zlib's gzopen/gzread path is fuzzed too). Any input must give data or a vae::Error.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/error.h"
#include "data/idx.h"

namespace {

const std::string& scratch_path() {
  static const std::string path = "/dev/shm/vaebench-fuzz-idx-" + std::to_string(getpid());
  return path;
}

}  // namespace

extern "C" int fuzz_idx_one(const uint8_t* data, size_t size) {
  const std::string& path = scratch_path();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const vae::IdxArray a = vae::read_idx(path);
    size_t n = 1;
    for (uint32_t d : a.dims) n *= d;
    if (n != a.data.size()) __builtin_trap();  // the reader promised product(dims) elements
  } catch (const vae::Error&) {
  }
  try {
    const vae::IdxImages im = vae::read_idx_images(path);
    if (im.pixels.size() != im.count * im.rows * im.cols) __builtin_trap();
  } catch (const vae::Error&) {
  }
  try {
    const vae::IdxLabels l = vae::read_idx_labels(path);
    for (uint8_t v : l.labels)
      if (v >= 10) __builtin_trap();
  } catch (const vae::Error&) {
  }
  return 0;
}

#ifdef VAE_FUZZ_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fuzz_idx_one(data, size); }
#endif
