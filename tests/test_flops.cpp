// The FLOP count behind the TFLOP/s counters, against a count done by hand.
#include <gtest/gtest.h>

#include "model/flops.h"

namespace vae {
namespace {

TEST(Flops, DefaultModelByHand) {
  const VaeConfig c;  // 784-400-20, K = 1
  const double b = 128;
  const double enc0 = 2 * b * 784 * 400, head = 2 * b * 400 * 20, dec0 = 2 * b * 20 * 400, out = 2 * b * 400 * 784;
  const double biases = b * (400 + 20 + 20 + 400 + 784);
  const StepFlops f = count_flops(c, 128);
  EXPECT_DOUBLE_EQ(f.forward, enc0 + 2 * head + dec0 + out + biases);
  // Backward: dW and db everywhere, dX everywhere except into the data.
  EXPECT_DOUBLE_EQ(f.backward, enc0 + 2 * (2 * head) + 2 * dec0 + 2 * out + biases);
  // The rule of thumb 6 x weights per image, less the skipped data gradient, plus biases:
  // 6 * 651200 - 2 * 784 * 400 + 2 * 1624 = 3.28 MFLOP per image per training step.
  EXPECT_DOUBLE_EQ(f.total() / b, 6.0 * 651200 - 2.0 * 784 * 400 + 2.0 * 1624);
}

TEST(Flops, DecoderScalesWithSamplesEncoderDoesNot) {
  VaeConfig one, three;
  three.samples = 3;
  const StepFlops f1 = count_flops(one, 10), f3 = count_flops(three, 10);
  const double decoder_forward_1 = 2.0 * 10 * (20 * 400 + 400 * 784) + 10.0 * (400 + 784);
  EXPECT_DOUBLE_EQ(f3.forward - f1.forward, 2 * decoder_forward_1);
  EXPECT_DOUBLE_EQ(count_flops(one, 20).total(), 2 * f1.total());
}

}  // namespace
}  // namespace vae
