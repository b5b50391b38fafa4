#pragma once
// The data family: the device-side input pipeline of the training path (impl/kernels/data.cu;
// its header comment lists the versions). Plain C++, no CUDA types.
//
//   gather   batch row r = resident image order[position + r] of the train split [N, D] (uint8,
//            on the device since set_train_data), as the host's data/pixels.h makes it:
//              Binarize::None            byte / 255 (float), or the byte itself (bytes out:
//                                        the GEMM reads byte / 255, the same float)
//              Binarize::Static/Dynamic  1 if counter_uniform(seed, kStreamBinarizeBase + key,
//                                        (image << 32) | pixel) < byte / 255.0 (in double),
//                                        else 0; key = epoch (Dynamic) or 0 (Static). Bytes
//                                        out hold 0 or 255, which read back as exactly 0 or 1.
//            Bit-identical to gather_scaled / gather_binarized on the host, on a GPU too (the
//            draw is integer arithmetic and one exact scaling; the compare is in double).
//   noise    eps[K, B, Z] of a step exactly as model/noise.h's fill_eps: element i is
//            float(counter_normal(seed, kStreamEpsStepBase + step, i)), Box-Muller in double.
//            On a GPU, CUDA's log/cos may differ from glibc's in the last double bit; after
//            the rounding to float that shows only for a draw within an ulp of a float
//            rounding boundary (common/counter_rng.h).
//
// The epoch's order is NOT shuffled on the device: Fisher-Yates (train/epoch_order.h) is a
// chain of n dependent swaps, one thread's work (~60 ms for 60000 images at a global-memory
// latency per swap), while the host computes it in well under a millisecond and one upload of
// n·4 bytes per epoch (240 KB for MNIST) costs tens of microseconds. So the backend uploads
// the order once per epoch, with the cursor; steps then need no host copy.
//
// What changes from step to step is read from device memory (BatchCursor, the optimizer's
// step count), so one captured step replays for the whole epoch: advance() moves the cursor
// on by a batch as the step's last launch.
#include <cstddef>
#include <cstdint>

#include "data/pixels.h"
#include "device/device.h"

namespace vae::kernels::data {

enum class Version : int { per_element = 1 };
inline constexpr int kFirstVersion = 1, kLastVersion = 1;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v1 per-element"

// In device memory: where the next batch starts in the epoch's order, and the epoch (the
// dynamic binarization draw). Set by the host with the epoch's order.
struct BatchCursor {
  std::int64_t epoch = 0;
  std::int64_t position = 0;
};

struct GatherArgs {
  int batch = 0, pixels = 0;               // B, D
  const std::uint8_t* images = nullptr;    // resident images [image_count, D]
  std::size_t image_count = 0;
  const std::uint32_t* order = nullptr;    // device: the epoch's image order
  std::size_t order_count = 0;             // its length
  const BatchCursor* cursor = nullptr;     // device
  Binarize binarize = Binarize::None;
  std::uint64_t binarize_seed = 0;
  float* x = nullptr;                      // out [B, D] floats, or
  std::uint8_t* x_bytes = nullptr;         // out [B, D] bytes (see above)
};
// Precondition (the host checks it when it uploads the order; a kernel cannot throw): every
// position of the batch is < order_count and every order entry < image_count. A row that
// breaks it reads nothing and is written as NaN (floats; the loss then shows it) or 0 (bytes).

struct NoiseArgs {
  int samples = 0, batch = 0, latent = 0;     // K, B, Z
  std::uint64_t seed = 0;
  const std::int64_t* steps_taken = nullptr;  // device: the step's number = the optimizer's count
                                              // before it, as LibTorch's step_noise (pass
                                              // &state->step of adam::DeviceState), or null:
  std::uint64_t step = 0;                     //   this one
  // A data-parallel rank's slice of the step's global batch (model/noise.h's BatchSlice): its
  // images are global positions first .. first+B-1 of global_batch (0: B, the whole batch).
  std::int64_t first = 0, global_batch = 0;
  float* eps = nullptr;                       // out [K, B, Z]
};

void gather(const device::Stream& stream, Version v, const GatherArgs& args);
void advance(const device::Stream& stream, BatchCursor* cursor, int batch);  // position += batch
void noise(const device::Stream& stream, Version v, const NoiseArgs& args);

// The checks the calls make, for callers that want the message before launching.
void validate(Version v, const GatherArgs& args);
void validate(Version v, const NoiseArgs& args);

}  // namespace vae::kernels::data
