// The data family (impl/kernels/data.cu): the batch gather bit-identical to the host's
// data/pixels.h for every binarization mode and both outputs, the cursor walking an epoch
// order (train/epoch_order.h) under a captured step, and the noise equal to model/noise.h's
// fill_eps after rounding to float; bitwise-identical under every thread order.
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "data/pixels.h"
#include "fused_kernel_test.h"
#include "kernels/data.h"
#include "model/noise.h"
#include "train/epoch_order.h"

namespace {

using namespace fused_test;
namespace data = vae::kernels::data;
using vae::Binarize;
using vae::device::Array;
using vae::device::to_device;
using vae::device::to_host;

constexpr data::Version kVersion = data::Version::per_element;

// A split of random images with every byte value, the extremes included.
vae::Split make_split(std::size_t count, std::size_t rows, std::size_t cols) {
  vae::Split split;
  split.count = count, split.rows = rows, split.cols = cols;
  for (std::size_t i = 0; i < count * rows * cols; ++i)
    split.pixels.push_back(std::uint8_t(vae::counter_bits(0xda7a, 31, i) % 256));
  split.pixels[0] = 0, split.pixels[1] = 255;
  split.labels.assign(count, 0);
  return split;
}

std::vector<std::uint32_t> to_u32(const std::vector<std::size_t>& v) { return {v.begin(), v.end()}; }

// The device side: the resident images, one epoch's order and the cursor.
struct DeviceData {
  Array<std::uint8_t> images;
  Array<std::uint32_t> order;
  Array<data::BatchCursor> cursor;
  DeviceData(const Stream& s, const vae::Split& split, const std::vector<std::uint32_t>& epoch_order, std::int64_t epoch)
      : images(to_device(s, split.pixels)), order(to_device(s, epoch_order)),
        cursor(to_device(s, std::vector<data::BatchCursor>{data::BatchCursor{epoch, 0}})) {}
  data::GatherArgs args(const vae::Split& split, int batch, Binarize mode, std::uint64_t seed) const {
    data::GatherArgs a;
    a.batch = batch, a.pixels = int(split.dim()), a.images = images.data(), a.image_count = split.count;
    a.order = order.data(), a.order_count = order.size(), a.cursor = cursor.data();
    a.binarize = mode, a.binarize_seed = seed;
    return a;
  }
};

struct Gathered {
  std::vector<float> floats;
  std::vector<std::uint8_t> bytes;
};

// Gathers the batch at `position` both ways (floats, bytes).
Gathered gather(const Stream& s, const vae::Split& split, const DeviceData& d, std::int64_t epoch, std::int64_t position,
                int batch, Binarize mode, std::uint64_t seed) {
  const data::BatchCursor c{epoch, position};
  vae::device::copy_to_device(s, d.cursor.data(), &c, sizeof c);
  Array<float> x(kDevice, std::size_t(batch) * split.dim());
  Array<std::uint8_t> x_bytes(kDevice, std::size_t(batch) * split.dim());
  data::GatherArgs a = d.args(split, batch, mode, seed);
  a.x = x.data();
  data::gather(s, kVersion, a);
  a.x = nullptr, a.x_bytes = x_bytes.data();
  data::gather(s, kVersion, a);
  return {to_host(s, x), to_host(s, x_bytes)};
}

std::vector<float> bytes_as_read(const std::vector<std::uint8_t>& bytes) {
  std::vector<float> v;
  for (std::uint8_t b : bytes) v.push_back(float(b) / 255.0f);
  return v;
}

class VAE_FUSED_SUITE(DataKernels) : public DeviceTest {};

TEST_F(VAE_FUSED_SUITE(DataKernels), GatherEqualsTheHostForEveryModeBitForBit) {
  const std::uint64_t seed = 1234;
  for (const auto& [count, rows, cols, batch] : std::vector<std::tuple<int, int, int, int>>{{300, 28, 28, 128}, {40, 3, 11, 7}})
    for (std::int64_t epoch : {1, 2}) {
      const vae::Split split = make_split(std::size_t(count), std::size_t(rows), std::size_t(cols));
      const std::vector<std::size_t> order = vae::epoch_order(split.count, seed, int(epoch));
      const Stream s = stream();
      const DeviceData d(s, split, to_u32(order), epoch);
      for (Binarize mode : {Binarize::None, Binarize::Static, Binarize::Dynamic})
        for (std::int64_t position : {std::int64_t(0), std::int64_t(count - batch)}) {
          const std::vector<std::size_t> rows_of_batch(order.begin() + position, order.begin() + position + batch);
          std::vector<float> host(rows_of_batch.size() * split.dim());
          vae::gather_binarized(split, rows_of_batch, mode, seed, std::uint64_t(epoch), host.data());
          const Gathered got = gather(s, split, d, epoch, position, batch, mode, seed);
          const std::string what = vae::to_string(mode) + " epoch " + std::to_string(epoch) + " position " +
                                   std::to_string(position) + " D " + std::to_string(split.dim());
          EXPECT_TRUE(same_bits(got.floats, host)) << what << ": float output";
          EXPECT_TRUE(same_bits(bytes_as_read(got.bytes), host)) << what << ": byte output read as byte / 255";
          if (mode != Binarize::None) {
            std::size_t on = 0;
            for (float v : host) on += v == 1.0f;
            EXPECT_GT(on, 0u) << what;  // a draw, not all zeros
            EXPECT_LT(on, host.size()) << what;
          }
        }
    }
}

// Dynamic draws change with the epoch, static ones do not (as on the host, from the cursor).
TEST_F(VAE_FUSED_SUITE(DataKernels), DynamicDrawsFollowTheCursorsEpoch) {
  const vae::Split split = make_split(20, 5, 7);
  std::vector<std::uint32_t> identity(20);
  for (std::uint32_t i = 0; i < 20; ++i) identity[i] = i;
  const Stream s = stream();
  const DeviceData d(s, split, identity, 1);
  EXPECT_FALSE(same_bits(gather(s, split, d, 1, 0, 20, Binarize::Dynamic, 9).floats,
                         gather(s, split, d, 2, 0, 20, Binarize::Dynamic, 9).floats));
  EXPECT_TRUE(same_bits(gather(s, split, d, 1, 0, 20, Binarize::Static, 9).floats,
                        gather(s, split, d, 2, 0, 20, Binarize::Static, 9).floats));
}

// One captured step (gather, then advance) replayed through an epoch: each replay gathers the
// next batch of the order, as the host would, with no host argument changing.
TEST_F(VAE_FUSED_SUITE(DataKernels), CapturedGatherWalksTheEpochOrder) {
  const vae::Split split = make_split(50, 4, 6);
  const std::uint64_t seed = 77;
  const int batch = 8, epoch = 3;
  const std::vector<std::size_t> order = vae::epoch_order(split.count, seed, epoch);
  const Stream s = stream();
  const DeviceData d(s, split, to_u32(order), epoch);
  Array<float> x(kDevice, std::size_t(batch) * split.dim());
  data::GatherArgs a = d.args(split, batch, Binarize::Dynamic, seed);
  a.x = x.data();
  vae::device::Graph::begin_capture(s);
  data::gather(s, kVersion, a);
  data::advance(s, d.cursor.data(), batch);
  const vae::device::Graph graph = vae::device::Graph::end_capture(s);
  for (int step = 0; step < int(split.count) / batch; ++step) {
    graph.launch(s);
    const std::vector<std::size_t> rows(order.begin() + step * batch, order.begin() + (step + 1) * batch);
    std::vector<float> host(rows.size() * split.dim());
    vae::gather_binarized(split, rows, Binarize::Dynamic, seed, epoch, host.data());
    EXPECT_TRUE(same_bits(to_host(s, x), host)) << "step " << step;
  }
  EXPECT_EQ(to_host(s, d.cursor)[0].position, std::int64_t(split.count) / batch * batch);
}

// A position past the order (a broken precondition) reads nothing and shows as NaN.
TEST_F(VAE_FUSED_SUITE(DataKernels), RowsPastTheOrderAreNaN) {
  const vae::Split split = make_split(10, 2, 3);
  std::vector<std::uint32_t> order(10);
  for (std::uint32_t i = 0; i < 10; ++i) order[i] = i;
  order[9] = 1000;  // not an image
  const Stream s = stream();
  const DeviceData d(s, split, order, 0);
  const Gathered got = gather(s, split, d, 0, 6, 5, Binarize::None, 0);  // rows 6, 7, 8 fine; 9 bad; 10 past
  for (std::size_t i = 0; i < got.floats.size(); ++i)
    EXPECT_EQ(std::isnan(got.floats[i]), i >= 3 * split.dim()) << "element " << i;
}

// eps on the device = fill_eps on the host, rounded to float, for the step read from device
// memory or given. On the CPU executor bit for bit; on a GPU, CUDA's log/cos may move a draw
// that lies within an ulp of a float rounding boundary by that ulp (kernels/data.h).
TEST_F(VAE_FUSED_SUITE(DataKernels), NoiseEqualsFillEps) {
  for (const Shape& sh : shapes())
    for (std::uint64_t step : {std::uint64_t(0), std::uint64_t(468), std::uint64_t(1) << 33}) {
      const std::size_t n = std::size_t(sh.samples) * sh.batch * sh.latent;
      std::vector<float> host(n);
      vae::fill_eps(0xabcdef, step, sh.samples, sh.batch, sh.latent, host.data());
      const Stream s = stream();
      Array<float> eps(kDevice, n);
      Array<std::int64_t> steps = to_device(s, std::vector<std::int64_t>{std::int64_t(step)});
      data::NoiseArgs a;
      a.samples = sh.samples, a.batch = sh.batch, a.latent = sh.latent, a.seed = 0xabcdef;
      a.steps_taken = steps.data(), a.eps = eps.data();
      data::noise(s, kVersion, a);
      const std::vector<float> from_device_step = to_host(s, eps);
      a.steps_taken = nullptr, a.step = step;
      data::noise(s, kVersion, a);
      const std::vector<float> from_argument = to_host(s, eps);
      EXPECT_TRUE(same_bits(from_device_step, from_argument)) << sh.label() << " step " << step;
      std::size_t differing = 0, over_an_ulp = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (from_device_step[i] != host[i]) {
          ++differing;
          if (std::fabs(from_device_step[i] - host[i]) > std::fabs(std::nextafter(host[i], 2 * host[i]) - host[i]))
            ++over_an_ulp;
        }
      if (kDevice == Kind::emu) EXPECT_EQ(differing, 0u) << sh.label() << " step " << step;
      else EXPECT_LE(differing, n / 1000 + 1) << sh.label() << " step " << step;
      EXPECT_EQ(over_an_ulp, 0u) << sh.label() << " step " << step;
    }
}

// A data-parallel rank's slice (first, global_batch): the host's fill_eps for the same slice,
// i.e. the whole batch's noise at those positions (model/noise.h); a slice out of its global
// batch is refused.
TEST_F(VAE_FUSED_SUITE(DataKernels), NoiseOfASliceIsTheHostsSlice) {
  const int samples = 3, latent = 5, global = 7;
  for (const auto& [first, count] : {std::pair<int, int>{0, 4}, {4, 3}, {2, 3}}) {
    const std::size_t n = std::size_t(samples) * count * latent;
    std::vector<float> host(n);
    vae::fill_eps(0x5eed, 12, samples, count, latent, host.data(), {first, global});
    const Stream s = stream();
    Array<float> eps(kDevice, n);
    data::NoiseArgs a;
    a.samples = samples, a.batch = count, a.latent = latent, a.seed = 0x5eed, a.step = 12;
    a.first = first, a.global_batch = global, a.eps = eps.data();
    data::noise(s, kVersion, a);
    const std::vector<float> got = to_host(s, eps);
    std::size_t over_an_ulp = 0, differing = 0;
    for (std::size_t i = 0; i < n; ++i) {
      differing += got[i] != host[i];
      over_an_ulp += std::fabs(got[i] - host[i]) > std::fabs(std::nextafter(host[i], 2 * host[i]) - host[i]);
    }
    if (kDevice == Kind::emu) EXPECT_EQ(differing, 0u) << "slice " << first << "+" << count;
    EXPECT_EQ(over_an_ulp, 0u) << "slice " << first << "+" << count;
    if (first > 0) {  // not the batch's first positions' noise
      std::vector<float> unsliced(n);
      vae::fill_eps(0x5eed, 12, samples, count, latent, unsliced.data());
      EXPECT_NE(got, unsliced) << "slice " << first << "+" << count;
    }
  }
  data::NoiseArgs bad;
  bad.samples = 1, bad.batch = 3, bad.latent = 1, bad.first = 5, bad.global_batch = 7;
  Array<float> out(kDevice, 3);
  bad.eps = out.data();
  EXPECT_THROW(data::validate(kVersion, bad), vae::Error);
}

TEST_F(VAE_FUSED_SUITE(DataKernels), BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  const vae::Split split = make_split(200, 28, 28);
  const std::vector<std::size_t> order = vae::epoch_order(split.count, 5, 1);
  const std::vector<ThreadOrder> runs = thread_orders();
  std::vector<Gathered> gathered;
  std::vector<std::vector<float>> noise;
  for (const ThreadOrder& r : runs) {
    const Stream s = stream(r.seed, r.workers);
    const DeviceData d(s, split, to_u32(order), 1);
    gathered.push_back(gather(s, split, d, 1, 10, 128, Binarize::Dynamic, 5));
    Array<float> eps(kDevice, 3 * 128 * 20);
    data::NoiseArgs a;
    a.samples = 3, a.batch = 128, a.latent = 20, a.seed = 5, a.step = 9, a.eps = eps.data();
    data::noise(s, kVersion, a);
    noise.push_back(to_host(s, eps));
  }
  for (std::size_t r = 1; r < runs.size(); ++r)
    EXPECT_TRUE(same_bits(gathered[0].floats, gathered[r].floats) && same_bits(gathered[0].bytes, gathered[r].bytes) &&
                same_bits(noise[0], noise[r]))
        << "thread-order seed " << runs[r].seed << " with " << runs[r].workers << " workers";
}

TEST_F(VAE_FUSED_SUITE(DataKernels), BadArgumentsAreNamed) {
  data::NoiseArgs n;
  n.samples = 1, n.batch = 1, n.latent = 1;
  EXPECT_THROW(data::validate(kVersion, n), vae::Error);  // no output
  data::GatherArgs g;
  g.batch = 1, g.pixels = 1;
  EXPECT_THROW(data::validate(kVersion, g), vae::Error);  // no images
}

}  // namespace
