// The CUDA build reports the devices it can use; on a machine without one it says why.
#include <gtest/gtest.h>

#include "cuda/device_info.h"

namespace vae {
namespace {

TEST(CudaInfo, ReportsDevicesOrWhyNot) {
  const CudaInfo info = query_cuda();
  if (!info.compiled) GTEST_SKIP() << info.unavailable_reason;
  EXPECT_GE(info.runtime_version, 13000) << "built against CUDA " << cuda_version_string(info.runtime_version);
  if (info.devices.empty()) {
    EXPECT_NE(info.unavailable_reason.find("no CUDA device"), std::string::npos) << info.unavailable_reason;
    GTEST_SKIP() << "no GPU here: " << info.unavailable_reason;
  }
  EXPECT_GT(info.driver_version, 0);
  for (const CudaDevice& d : info.devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.sm_major, 7) << d.name;
    EXPECT_GT(d.multiprocessors, 0) << d.name;
    EXPECT_GT(d.memory_gib, 1.0) << d.name;
  }
}

}  // namespace
}  // namespace vae
