#pragma once
// The peak resident set size of this process (Linux VmHWM), resettable so that one benchmark
// can be measured after another in the same process. What `vaebench-bench` reports as a CPU
// backend's memory; GPU backends report their device memory (backend.h, MemoryPeak).
#include <cstddef>
#include <optional>

namespace vae {

// Starts a new peak at the current RSS ("5" to /proc/self/clear_refs, Linux >= 4.0). False
// where the kernel refuses; the peak then counts from the start of the process.
bool reset_peak_rss();

// VmHWM from /proc/self/status, in bytes; nullopt where there is none.
std::optional<std::size_t> peak_rss_bytes();

}  // namespace vae
