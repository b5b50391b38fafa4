// Every fuzz target run once over its committed seed corpus and over every input that once
// crashed it (tests/fuzz/crashes/<target>-*), in the ordinary build and the sanitizer build:
// what the fuzzer found stays found.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int fuzz_idx_one(const uint8_t* data, size_t size);
extern "C" int fuzz_safetensors_one(const uint8_t* data, size_t size);
extern "C" int fuzz_cli_options_one(const uint8_t* data, size_t size);
extern "C" int fuzz_image_one(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> files;
  const fs::path root = fs::path(VAE_SOURCE_DIR) / "tests" / "fuzz";
  for (const auto& e : fs::directory_iterator(root / "corpus" / target)) files.push_back(e.path());
  for (const auto& e : fs::directory_iterator(root / "crashes"))
    if (e.path().filename().string().rfind(target + "-", 0) == 0) files.push_back(e.path());
  return files;
}

void run_all(const std::string& target, int (*one)(const uint8_t*, size_t)) {
  const std::vector<fs::path> files = inputs(target);
  ASSERT_FALSE(files.empty()) << "no seed corpus for " << target;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(f.string());
    EXPECT_EQ(one(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
  }
}

TEST(FuzzRegressions, IdxReader) { run_all("fuzz_idx", fuzz_idx_one); }
TEST(FuzzRegressions, SafetensorsParser) { run_all("fuzz_safetensors", fuzz_safetensors_one); }
TEST(FuzzRegressions, CliOptions) { run_all("fuzz_cli_options", fuzz_cli_options_one); }
TEST(FuzzRegressions, ImageDecoders) { run_all("fuzz_image", fuzz_image_one); }

}  // namespace
