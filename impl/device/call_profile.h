#pragma once
// Per-call timing of our kernel families, for the per-kernel table of a fused step: while a
// CallProfile is active on a stream, each family entry point (gemm::forward, latent::backward,
// adam::step, ...) records an event before and after its launches with what the call costs
// (FLOP and DRAM bytes, its own estimate from the shapes). Outside a profile the entry points
// pay one pointer comparison. A profile cannot span a graph capture (a captured event is not
// a timing); the profiled work must run uncaptured.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "device/device.h"

namespace vae::device {

struct CallCost {
  std::string name;   // e.g. "gemm.forward 128x784->400 relu, bytes in"
  double flops = 0;   // arithmetic operations (an FMA counts 2)
  double bytes = 0;   // DRAM traffic if every operand is read and written once
};

struct ProfiledCall {
  CallCost cost;
  double seconds = 0;  // between the events around the call (device time on a GPU)
};

class CallProfile {
 public:
  // Becomes the active profile of `stream` (one at a time per process).
  explicit CallProfile(const Stream& stream);
  ~CallProfile();
  CallProfile(const CallProfile&) = delete;
  CallProfile& operator=(const CallProfile&) = delete;

  // Waits for the stream, then every call recorded so far, in launch order.
  std::vector<ProfiledCall> calls();

  // For ProfileScope.
  void begin(CallCost cost);
  void end();

 private:
  struct Pending;
  const Stream& stream_;
  std::vector<std::unique_ptr<Pending>> calls_;
};

// The active profile of `stream`, or null.
CallProfile* active_profile(const Stream& stream);

// In a family entry point: VAE_PROFILE_CALL(stream, [&] { return CallCost{...}; }); records
// the rest of the entry point's scope when a profile is active on the stream.
class ProfileScope {
 public:
  ProfileScope(const Stream& stream, const std::function<CallCost()>& cost) : profile_(active_profile(stream)) {
    if (profile_) profile_->begin(cost());
  }
  ~ProfileScope() {
    if (profile_) profile_->end();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  CallProfile* profile_;
};

}  // namespace vae::device

#define VAE_PROFILE_CALL(stream, ...) ::vae::device::ProfileScope vae_profile_scope_((stream), __VA_ARGS__)
