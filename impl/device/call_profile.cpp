#include "device/call_profile.h"

#include "common/error.h"

namespace vae::device {

namespace {
CallProfile* active = nullptr;
const Stream* active_stream = nullptr;
}  // namespace

struct CallProfile::Pending {
  CallCost cost;
  Event start, stop;
  explicit Pending(Kind kind, CallCost c) : cost(std::move(c)), start(kind), stop(kind) {}
};

CallProfile::CallProfile(const Stream& stream) : stream_(stream) {
  if (active) throw Error("CallProfile: another profile is active");
  active = this;
  active_stream = &stream;
}

CallProfile::~CallProfile() {
  active = nullptr;
  active_stream = nullptr;
}

CallProfile* active_profile(const Stream& stream) { return active && active_stream == &stream ? active : nullptr; }

void CallProfile::begin(CallCost cost) {
  calls_.push_back(std::make_unique<Pending>(stream_.kind(), std::move(cost)));
  calls_.back()->start.record(stream_);
}

void CallProfile::end() { calls_.back()->stop.record(stream_); }

std::vector<ProfiledCall> CallProfile::calls() {
  stream_.synchronize();
  std::vector<ProfiledCall> out;
  for (const auto& p : calls_) out.push_back({p->cost, Event::elapsed_ms(p->start, p->stop) / 1e3});
  return out;
}

}  // namespace vae::device
