// The model as a list of layers: shapes, checks and their messages, the text and JSON forms,
// the flat parameter layout (identical to ParamLayout for MLPs), initialisation, MAC counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/counter_rng.h"
#include "common/error.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae {
namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_CONTAINS(haystack, needle)                                                   \
  do {                                                                                      \
    const std::string h_ = (haystack), n_ = (needle);                                       \
    EXPECT_NE(h_.find(n_), std::string::npos) << "message: " << h_ << "\nexpected: " << n_; \
  } while (0)

constexpr auto kRelu = LayerActivation::Relu;
constexpr auto kTanh = LayerActivation::Tanh;
constexpr auto kNone = LayerActivation::None;

std::string build_error(const ModelSpec& s) {
  return error_of([&] { ModelLayers m(s); });
}

// "prefix in -> out" for every layer, to compare whole stacks at once.
std::vector<std::string> shapes_of(const ModelLayers& m) {
  std::vector<std::string> out;
  for (const DerivedLayer& l : m.layers()) out.push_back(l.prefix + " " + l.in.str() + " -> " + l.out.str());
  return out;
}

// Odd stacks: k3 s1 p0, k5 s2 p2, non-square and odd inputs, a dense layer between convs
// through a reshaped dense, batch norm in both halves, output_padding mid-decoder.
ModelSpec odd_3x11x9() {
  ModelSpec s;
  s.input = {3, 11, 9};
  s.encoder = parse_layers("conv8k3s1p0+bn:tanh,conv16k5s2p2:relu,dense96x2x3:relu,conv4k2s1p1:none,dense33:tanh", "e");
  s.latent = 5;
  s.decoder = parse_layers("dense40:relu,dense6x6x5:none,convT5k3s2p1+bn:relu,conv3k3s1p1:none", "d");
  return s;
}

ModelSpec odd_1x13x13() {
  ModelSpec s;
  s.input = {1, 13, 13};
  s.encoder = parse_layers("conv8k3s1p0:relu,conv16k5s2p2:relu,dense64x3x3:relu,conv4k3s1p1:tanh,dense33:tanh", "e");
  s.latent = 3;
  s.decoder = parse_layers("dense10:relu,dense6x3x3:none,convT5k3s2p0o1+bn:relu,conv7k3s1p1:tanh,convT1k3s2p2:none", "d");
  return s;
}

// ---- presets, layer by layer ------------------------------------------------------------

TEST(ModelLayers, MlpPresetIsTodaysDefaultModel) {
  const ModelSpec s = preset_spec("mlp");
  EXPECT_EQ(summary(s), "1x28x28 | dense400:relu | z20 | dense400:relu,dense784:none");
  const ModelLayers m(s);
  EXPECT_EQ(shapes_of(m), (std::vector<std::string>{"enc.0 1x28x28 -> 400x1x1", "enc.mu 400x1x1 -> 20x1x1",
                                                    "enc.logvar 400x1x1 -> 20x1x1", "dec.0 20x1x1 -> 400x1x1",
                                                    "dec.out 400x1x1 -> 784x1x1"}));
  EXPECT_EQ(m.buffers().total(), 0u);
  // An input_dim that is not a square is labelled 1 x 1 x D.
  VaeConfig c;
  c.input_dim = 50;
  EXPECT_EQ(mlp_spec(c).input, (Shape{1, 1, 50}));
  c.input_dim = 49;
  EXPECT_EQ(mlp_spec(c).input, (Shape{1, 7, 7}));
}

TEST(ModelLayers, ConvMnistShapesLayerByLayer) {
  for (int latent : {20, 128}) {
    const ModelLayers m(conv_mnist_spec(latent));
    const std::string z = std::to_string(latent) + "x1x1";
    EXPECT_EQ(shapes_of(m), (std::vector<std::string>{
                                "enc.0 1x28x28 -> 32x14x14", "enc.1 32x14x14 -> 64x7x7", "enc.2 64x7x7 -> 128x3x3",
                                "enc.mu 128x3x3 -> " + z, "enc.logvar 128x3x3 -> " + z, "dec.0 " + z + " -> 128x3x3",
                                "dec.1 128x3x3 -> 64x7x7", "dec.2 64x7x7 -> 32x14x14", "dec.out 32x14x14 -> 1x28x28"}))
        << latent;
    EXPECT_EQ(m.view("dec.1.weight").shape, (std::vector<int64_t>{128, 64, 4, 4}));  // ConvTranspose2d [in, out, k, k]
    EXPECT_EQ(m.view("enc.1.weight").shape, (std::vector<int64_t>{64, 32, 4, 4}));   // Conv2d [out, in, k, k]
    EXPECT_EQ(m.view("enc.mu.weight").shape, (std::vector<int64_t>{latent, 1152}));
    EXPECT_EQ(m.view("dec.0.weight").shape, (std::vector<int64_t>{1152, latent}));
    EXPECT_EQ(m.layer("dec.0").spec.activation, kNone);  // as the seed: no activation after fc
    EXPECT_FALSE(m.layer("dec.0").out_flat);
    EXPECT_EQ(m.buffers().total(), 0u);
    // By hand: convs (w + b) 1*32*16+32, 32*64*16+64, 64*128*16+128; heads 2 (1152 Z + Z);
    // dec fc Z*1152+1152; transposed 128*64*16+64, 64*32*16+32, 32*1*16+1.
    const size_t zl = size_t(latent);
    EXPECT_EQ(m.total(), 544 + 32832 + 131200 + 2 * (1152 * zl + zl) + (zl * 1152 + 1152) + 131136 + 32800 + 513);
  }
}

TEST(ModelLayers, ConvCeleba64ShapesLayerByLayer) {
  const ModelLayers m(preset_spec("conv-celeba64"));
  EXPECT_EQ(m.spec().latent, 256);
  EXPECT_EQ(shapes_of(m),
            (std::vector<std::string>{"enc.0 3x64x64 -> 32x32x32", "enc.1 32x32x32 -> 64x16x16",
                                      "enc.2 64x16x16 -> 128x8x8", "enc.3 128x8x8 -> 256x4x4",
                                      "enc.mu 256x4x4 -> 256x1x1", "enc.logvar 256x4x4 -> 256x1x1",
                                      "dec.0 256x1x1 -> 256x4x4", "dec.1 256x4x4 -> 128x8x8",
                                      "dec.2 128x8x8 -> 64x16x16", "dec.3 64x16x16 -> 32x32x32",
                                      "dec.out 32x32x32 -> 3x64x64"}));
  for (const DerivedLayer& l : m.layers()) {
    const bool conv_hidden = (l.role == LayerRole::Encoder || l.role == LayerRole::Decoder) && l.prefix != "dec.0";
    EXPECT_EQ(l.spec.batch_norm, conv_hidden) << l.prefix;
    EXPECT_EQ(l.spec.activation, conv_hidden ? kRelu : kNone) << l.prefix;
  }
  // Parameter order within a batch-norm layer: weight, bias, bn.weight, bn.bias.
  std::vector<std::string> first;
  for (size_t i = 0; i < 5; ++i) first.push_back(m.views()[i].name);
  EXPECT_EQ(first, (std::vector<std::string>{"enc.0.weight", "enc.0.bias", "enc.0.bn.weight", "enc.0.bn.bias",
                                             "enc.1.weight"}));
  EXPECT_EQ(m.view("enc.0.bn.weight").shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(m.view("dec.3.bn.bias").shape, (std::vector<int64_t>{32}));
  EXPECT_THROW(m.view("dec.out.bn.weight"), Error);
  EXPECT_THROW(m.view("dec.0.bn.weight"), Error);
  EXPECT_EQ(preset_spec("conv-celeba64", 64).latent, 64);
}

TEST(ModelLayers, BatchNormRunningStatisticsAreSeparateBuffers) {
  const ModelLayers m(conv_celeba64_spec());
  const BufferLayout& b = m.buffers();
  // 7 batch-norm layers (4 encoder, 3 decoder) of 32+64+128+256 and 128+64+32 channels.
  ASSERT_EQ(b.views().size(), 21u);
  EXPECT_EQ(b.total(), size_t(2 * (32 + 64 + 128 + 256 + 128 + 64 + 32) + 7));
  EXPECT_EQ(b.views()[0].name, "enc.0.bn.running_mean");
  EXPECT_EQ(b.views()[1].name, "enc.0.bn.running_var");
  EXPECT_EQ(b.views()[2].name, "enc.0.bn.num_batches_tracked");
  EXPECT_EQ(b.views()[20].name, "dec.3.bn.num_batches_tracked");
  EXPECT_EQ(b.view("dec.1.bn.running_var").shape, (std::vector<int64_t>{128}));
  EXPECT_TRUE(b.view("dec.1.bn.num_batches_tracked").shape.empty());
  EXPECT_TRUE(b.view("dec.1.bn.num_batches_tracked").is_count());
  EXPECT_EQ(b.view("dec.1.bn.running_var").kind, BufferKind::RunningVar);
  EXPECT_FALSE(b.view("dec.1.bn.running_mean").is_count());
  size_t offset = 0;
  for (const BufferView& v : b.views()) {
    EXPECT_EQ(v.offset, offset) << v.name;
    offset += v.size;
  }
  const std::vector<double> init = b.initial_values();
  const BufferView& mean = b.view("enc.2.bn.running_mean");
  const BufferView& var = b.view("enc.2.bn.running_var");
  const BufferView& count = b.view("enc.2.bn.num_batches_tracked");
  for (size_t i = 0; i < 128; ++i) {
    EXPECT_EQ(init[mean.offset + i], 0.0);
    EXPECT_EQ(init[var.offset + i], 1.0);
  }
  EXPECT_EQ(count.size, 1u);
  EXPECT_EQ(init[count.offset], 0.0);
  ASSERT_TRUE(m.layer("enc.2").bn_buffers.has_value());
  EXPECT_EQ(m.layer("enc.2").bn_buffers->mean, 6u);
  EXPECT_EQ(m.layer("enc.2").bn_buffers->var, 7u);
  EXPECT_EQ(m.layer("enc.2").bn_buffers->count, 8u);
  EXPECT_THROW(b.view("enc.0.bn.weight"), Error);  // a parameter, not a buffer
}

TEST(ModelLayers, PresetsByName) {
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"mlp", "conv-mnist", "conv-celeba64"}));
  EXPECT_EQ(preset_spec("conv-mnist"), conv_mnist_spec(20));
  EXPECT_EQ(preset_spec("conv-mnist", 128).latent, 128);
  EXPECT_EQ(preset_spec("mlp", 3).latent, 3);
  EXPECT_EQ(error_of([] { preset_spec("resnet"); }),
            "unknown model preset 'resnet', expected mlp|conv-mnist|conv-celeba64");
}

// ---- the checks and their messages --------------------------------------------------

TEST(ModelLayers, ConvMnistAsPrintedIsRefusedSayingWhatFits) {
  // The seed's decoder as printed: output_padding 0 everywhere, 3 -> 6 -> 12 -> 24.
  ModelSpec s = conv_mnist_spec();
  s.decoder[1].output_padding = 0;
  EXPECT_EQ(build_error(s),
            "decoder layer 3 (conv_transpose2d 1 k4 s2 p1): the decoder's output is 1x24x24 but the input is "
            "1x28x28 (spatial size 3->6->12->24 through decoder layers 0..3); decoder layer 1 (conv_transpose2d 64 "
            "k4 s2 p1) gives 6 from 3 where 7 is needed: output_padding 1 on decoder layer 1 gives 3->7->14->28");
}

TEST(ModelLayers, WrongDecoderSizesNameTheLayerAndWhatFits) {
  // The dense layer's shape is what is wrong: 3x3 where 4x4 is needed.
  ModelSpec s = conv_celeba64_spec();
  s.decoder[0] = dense_to({256, 3, 3}, kNone);
  std::string e = build_error(s);
  EXPECT_CONTAINS(e, "decoder layer 4 (conv_transpose2d 3 k4 s2 p1): the decoder's output is 3x48x48 but the input "
                     "is 3x64x64");
  EXPECT_CONTAINS(e, "decoder layer 0 (dense 256x3x3) gives 3 where 4 is needed: shape 256x4x4 on decoder layer 0 "
                     "(dense256x4x4:none) gives 4->8->16->32->64");
  // Only the height wrong.
  s.decoder[0] = dense_to({256, 3, 4}, kNone);
  e = build_error(s);
  EXPECT_CONTAINS(e, "output is 3x48x64 but the input is 3x64x64 (height 3->6->12->24->48");
  EXPECT_CONTAINS(e, "shape 256x4x4 on decoder layer 0");
  // Too much padding on decoder layer 2 (7 -> 12): walking back from 28, layer 2 could give
  // 14 from 8, which layer 1 cannot give from 3; the one change that fits is on layer 2.
  s = conv_mnist_spec();
  s.decoder[2] = conv_transpose2d(32, 4, 2, 2, 0, kRelu);
  EXPECT_CONTAINS(build_error(s), "(spatial size 3->7->12->24 through decoder layers 0..3); decoder layer 1 "
                                  "(conv_transpose2d 64 k4 s2 p1 o1) gives 7 from 3 where 8 is needed (with the layers "
                                  "after it as they are); instead, padding 1 on decoder layer 2 gives 3->7->14->28");
  // An unpadded conv2d output layer (28 -> 26): walking back it needs 30, so 15 from
  // decoder layer 2, which an output_padding gives.
  s = conv_mnist_spec();
  s.decoder[3] = conv_transpose2d(8, 4, 2, 1, 0, kRelu);
  s.decoder.push_back(conv2d(1, 3, 1, 0, kNone));
  EXPECT_CONTAINS(build_error(s), "(spatial size 3->7->14->28->26 through decoder layers 0..4); decoder layer 2 "
                                  "(conv_transpose2d 32 k4 s2 p1) gives 14 from 7 where 15 is needed: output_padding 1 "
                                  "on decoder layer 2 gives 3->7->15->30->28");
  // Nothing single fits: stride 3 everywhere from 2x2 (2 -> 5 -> 14 -> 41).
  s = conv_mnist_spec();
  s.decoder = {dense_to({8, 2, 2}, kNone), conv_transpose2d(8, 2, 3, 0, 0, kRelu), conv_transpose2d(8, 2, 3, 0, 0, kRelu),
               conv_transpose2d(1, 2, 3, 0, 0, kNone)};
  EXPECT_CONTAINS(build_error(s), "the decoder's output is 1x41x41 but the input is 1x28x28 (spatial size "
                                  "2->5->14->41 through decoder layers 0..3)");
  EXPECT_CONTAINS(build_error(s), "no single output_padding, padding or dense shape change fits");
  // Output channels.
  s = conv_mnist_spec();
  s.decoder.back().out = 3;
  EXPECT_CONTAINS(build_error(s), "the decoder's output is 3x28x28 but the input is 1x28x28; set the output layer's "
                                  "out_channels to 1");
  // A flat dense output of the wrong width, and a reshaped one of the wrong shape.
  s = mlp_spec(VaeConfig{});
  s.decoder.back().out = 700;
  EXPECT_EQ(build_error(s), "decoder layer 1 (dense 700): the decoder's output is 700 features but the input 1x28x28 "
                            "has 784: end the decoder with dense784:none");
  s.decoder.back() = dense_to({784, 1, 1}, kNone);
  EXPECT_CONTAINS(build_error(s), "the decoder's output is 784x1x1 but the input is 1x28x28: end the decoder with "
                                  "dense1x28x28:none");
  s.decoder.back() = dense_to({1, 28, 28}, kNone);  // that one is fine
  EXPECT_NO_THROW(ModelLayers{s});
}

TEST(ModelLayers, EveryBadLayerIsRefusedNamingIt) {
  ModelSpec s = conv_mnist_spec();
  s.encoder[1].kernel = 0;
  EXPECT_EQ(build_error(s), "encoder layer 1 (conv2d 64 k0 s2 p1): kernel 0 must be in 1..1048576");
  s = conv_mnist_spec();
  s.decoder[2].stride = 0;
  EXPECT_EQ(build_error(s), "decoder layer 2 (conv_transpose2d 32 k4 s0 p1): stride 0 must be in 1..1048576");
  s = conv_mnist_spec();
  s.encoder[0].padding = -1;
  EXPECT_CONTAINS(build_error(s), "encoder layer 0 (conv2d 32 k4 s2 p-1): padding -1 must be in 0..");
  s = conv_mnist_spec();
  s.encoder[2].out = 0;
  EXPECT_CONTAINS(build_error(s), "encoder layer 2 (conv2d 0 k4 s2 p1): out_channels 0 is out of range 1..");
  // Output <= 0: a conv whose kernel exceeds its padded input (28 -> 14 -> 7 -> 3 -> 1 -> 0).
  s = conv_mnist_spec();
  s.encoder.push_back(conv2d(128, 4, 2, 1, kRelu));
  s.encoder.push_back(conv2d(128, 4, 2, 1, kRelu));
  EXPECT_EQ(build_error(s), "encoder layer 4 (conv2d 128 k4 s2 p1): input 128x1x1 gives an output height 0 < 1 "
                            "(floor((1 + 2*1 - 4) / 2) + 1 = 0: the kernel 4 is larger than the padded input 3; use a "
                            "smaller kernel, more padding or fewer downsampling layers)");
  // ... and a transposed conv with too much padding: (3-1)*1 - 2*3 + 2 + 0 = -2.
  s = conv_mnist_spec();
  s.decoder[1] = conv_transpose2d(64, 2, 1, 3, 0, kRelu);
  EXPECT_CONTAINS(build_error(s), "decoder layer 1 (conv_transpose2d 64 k2 s1 p3): input 128x3x3 gives an output "
                                  "height -2 < 1 ((3 - 1)*1 - 2*3 + 2 + 0 = -2");
  // output_padding must be smaller than the stride.
  s = conv_mnist_spec();
  s.decoder[1].output_padding = 2;
  EXPECT_EQ(build_error(s), "decoder layer 1 (conv_transpose2d 64 k4 s2 p1 o2): output_padding 2 must be smaller than "
                            "the stride 2 (PyTorch refuses it): use 0..1, or a larger stride, kernel or less padding");
  s.decoder[1].output_padding = -1;
  EXPECT_CONTAINS(build_error(s), "output_padding -1 must be smaller");
  s = conv_mnist_spec();
  s.encoder[0].output_padding = 1;
  EXPECT_CONTAINS(build_error(s), "encoder layer 0 (conv2d 32 k4 s2 p1 o1): output_padding applies to "
                                  "conv_transpose2d only");
  // Batch norm on a dense layer.
  s = mlp_spec(VaeConfig{});
  s.encoder[0].batch_norm = true;
  EXPECT_EQ(build_error(s), "encoder layer 0 (dense 400): batch norm (BatchNorm2d) applies to conv layers only: "
                            "remove '+bn', or use a conv layer");
  // Conv fields on a dense layer, a shape on a conv layer, a shape of the wrong size.
  s = mlp_spec(VaeConfig{});
  s.decoder[0].kernel = 3;
  EXPECT_CONTAINS(build_error(s), "decoder layer 0 (dense 400): kernel, stride, padding and output_padding apply to "
                                  "conv layers only");
  s = conv_mnist_spec();
  s.encoder[0].reshape = Shape{32, 14, 14};
  EXPECT_CONTAINS(build_error(s), "encoder layer 0 (conv2d 32 k4 s2 p1): a shape (reshape) applies to dense layers only");
  s = conv_mnist_spec();
  s.decoder[0].out = 1000;
  EXPECT_CONTAINS(build_error(s), "decoder layer 0 (dense 128x3x3): shape 128x3x3 has 1152 elements, not out_features "
                                  "1000");
  // The output layer: no activation, no batch norm.
  s = conv_mnist_spec();
  s.decoder.back().activation = kRelu;
  EXPECT_EQ(build_error(s), "decoder layer 3 (conv_transpose2d 1 k4 s2 p1): the output layer's activation must be "
                            "none (its outputs are the logits, or the Gaussian mean through a sigmoid, which the "
                            "likelihood applies), got relu: end the decoder with ':none'");
  s = mlp_spec(VaeConfig{});
  s.decoder.back().activation = kTanh;
  EXPECT_CONTAINS(build_error(s), "decoder layer 1 (dense 784): the output layer's activation must be none");
  s = conv_mnist_spec();
  s.decoder.back().batch_norm = true;
  EXPECT_EQ(build_error(s), "decoder layer 3 (conv_transpose2d 1 k4 s2 p1): the output layer takes no batch norm: "
                            "remove '+bn'");
  // A conv after a flat dense layer, in the encoder and the decoder, and a decoder starting with a conv.
  s = conv_mnist_spec();
  s.decoder[0] = dense(1152, kNone);
  EXPECT_EQ(build_error(s), "decoder layer 1 (conv_transpose2d 64 k4 s2 p1 o1): a conv layer needs a CxHxW input, "
                            "but decoder layer 0 (dense 1152) is flat: give that dense layer a shape, "
                            "dense<C>x<H>x<W> with C*H*W = 1152");
  s = conv_mnist_spec();
  s.encoder.insert(s.encoder.begin() + 1, dense(100, kRelu));
  EXPECT_CONTAINS(build_error(s), "encoder layer 2 (conv2d 64 k4 s2 p1): a conv layer needs a CxHxW input, but "
                                  "encoder layer 1 (dense 100) is flat");
  s = conv_mnist_spec();
  s.decoder.erase(s.decoder.begin());
  EXPECT_CONTAINS(build_error(s), "decoder layer 0 (conv_transpose2d 64 k4 s2 p1 o1): a conv layer needs a CxHxW "
                                  "input, but z (a vector of 20) is flat: start the decoder with a dense layer to a "
                                  "shape, e.g. dense128x3x3");
  // Empty stacks, a bad latent, a bad input.
  s = conv_mnist_spec();
  s.encoder.clear();
  EXPECT_CONTAINS(build_error(s), "encoder: at least one layer is required");
  s = conv_mnist_spec();
  s.decoder.clear();
  EXPECT_CONTAINS(build_error(s), "decoder: at least one layer is required");
  s = conv_mnist_spec();
  s.latent = 0;
  EXPECT_EQ(build_error(s), "latent 0 is out of range 1..1048576");
  s = conv_mnist_spec();
  s.input = {1, 0, 28};
  EXPECT_CONTAINS(build_error(s), "input shape 1x0x28 must have every size in 1..");
  // Absurd sizes are refused, not overflowed.
  s = conv_mnist_spec();
  s.encoder[0] = conv2d(1 << 20, 1 << 20, 1, 1 << 20, kRelu);
  EXPECT_CONTAINS(build_error(s), "encoder layer 0 (conv2d 1048576 k1048576 s1 p1048576): ");
}

TEST(ModelLayers, OddStacksDeriveTheirShapes) {
  const ModelLayers a(odd_3x11x9());
  EXPECT_EQ(shapes_of(a), (std::vector<std::string>{
                              "enc.0 3x11x9 -> 8x9x7",     // k3 s1 p0
                              "enc.1 8x9x7 -> 16x5x4",     // k5 s2 p2: floor((9+4-5)/2)+1 = 5, floor((7+4-5)/2)+1 = 4
                              "enc.2 16x5x4 -> 96x2x3",    // dense 320 -> 576, reshaped
                              "enc.3 96x2x3 -> 4x3x4",     // k2 s1 p1
                              "enc.4 4x3x4 -> 33x1x1",     // dense, flattens 48
                              "enc.mu 33x1x1 -> 5x1x1", "enc.logvar 33x1x1 -> 5x1x1", "dec.0 5x1x1 -> 40x1x1",
                              "dec.1 40x1x1 -> 6x6x5",
                              "dec.2 6x6x5 -> 5x11x9",     // (6-1)*2 - 2 + 3 = 11, (5-1)*2 - 2 + 3 = 9
                              "dec.out 5x11x9 -> 3x11x9"}));
  EXPECT_EQ(a.view("enc.2.weight").shape, (std::vector<int64_t>{576, 320}));
  EXPECT_EQ(a.view("enc.0.bn.bias").shape, (std::vector<int64_t>{8}));
  const ModelLayers b(odd_1x13x13());
  EXPECT_EQ(shapes_of(b), (std::vector<std::string>{
                              "enc.0 1x13x13 -> 8x11x11", "enc.1 8x11x11 -> 16x6x6", "enc.2 16x6x6 -> 64x3x3",
                              "enc.3 64x3x3 -> 4x3x3", "enc.4 4x3x3 -> 33x1x1", "enc.mu 33x1x1 -> 3x1x1",
                              "enc.logvar 33x1x1 -> 3x1x1", "dec.0 3x1x1 -> 10x1x1", "dec.1 10x1x1 -> 6x3x3",
                              "dec.2 6x3x3 -> 5x8x8",      // (3-1)*2 - 0 + 3 + 1 = 8
                              "dec.3 5x8x8 -> 7x8x8",
                              "dec.out 7x8x8 -> 1x13x13"}));  // (8-1)*2 - 4 + 3 = 13
  EXPECT_EQ(b.buffers().views().front().name, "dec.2.bn.running_mean");
}

// ---- text -------------------------------------------------------------------------------

TEST(ModelLayers, TextRoundTripsExactly) {
  const std::vector<std::string> texts = {
      "conv32k4s2p1+bn:relu,dense400:tanh",
      "dense128x3x3:none,convT64k4s2p1o1:relu,convT1k4s2p1:none",
      "conv8k3s1p0:relu,conv16k5s2p2:relu,dense64x3x3:relu,conv4k3s1p1:tanh,dense33:tanh",
      "dense10:relu,dense6x3x3:none,convT5k3s2p0o1+bn:relu,conv7k3s1p1:tanh,convT1k3s2p2:none",
      "dense1152x1x1:none,dense1152:none,convT7k1s1p0+bn:none",
      "dense1048576:relu,conv1048576k1048576s1048576p1048576:none,convT2k3s4p0o3:none"};
  for (const std::string& t : texts) {
    const std::vector<LayerSpec> layers = parse_layers(t, "--encoder");
    EXPECT_EQ(to_string(layers), t);
    EXPECT_EQ(parse_layers(to_string(layers), "--encoder"), layers) << t;
  }
  for (const std::string& name : preset_names()) {
    const ModelSpec s = preset_spec(name);
    EXPECT_EQ(parse_layers(to_string(s.encoder), "--encoder"), s.encoder) << name;
    EXPECT_EQ(parse_layers(to_string(s.decoder), "--decoder"), s.decoder) << name;
  }
  for (const ModelSpec& s : {odd_3x11x9(), odd_1x13x13()}) {
    EXPECT_EQ(parse_layers(to_string(s.encoder), "--encoder"), s.encoder);
    EXPECT_EQ(parse_layers(to_string(s.decoder), "--decoder"), s.decoder);
  }
  EXPECT_EQ(to_string(conv_mnist_spec().decoder), "dense128x3x3:none,convT64k4s2p1o1:relu,convT32k4s2p1:relu,"
                                                   "convT1k4s2p1:none");
  // What the text means.
  const std::vector<LayerSpec> l = parse_layers("conv32k4s2p1+bn:relu,dense128x3x3:none,convT5k3s1p0o2:tanh", "x");
  EXPECT_EQ(l[0], conv2d(32, 4, 2, 1, kRelu, true));
  EXPECT_EQ(l[1], dense_to({128, 3, 3}, kNone));
  EXPECT_EQ(l[1].out, 1152);
  EXPECT_EQ(l[2], conv_transpose2d(5, 3, 1, 0, 2, kTanh));
  EXPECT_NE(parse_layers("dense1152x1x1:none", "x"), parse_layers("dense1152:none", "x"));  // shaped vs flat
}

TEST(ModelLayers, MalformedTextIsRefusedQuotingWhereAndWhat) {
  EXPECT_EQ(error_of([] { parse_layers("dense128x3x3:none,convT64k4s2p1:rleu", "--decoder"); }),
            "--decoder: bad layer list 'dense128x3x3:none,convT64k4s2p1:rleu' at position 32 ('rleu'): unknown "
            "activation 'rleu', expected relu|tanh|none|leaky_relu[SLOPE]|elu|gelu|gelu_tanh|silu");
  EXPECT_EQ(error_of([] { parse_layers("conv32k4s2+bn:relu", "--encoder"); }),
            "--encoder: bad layer list 'conv32k4s2+bn:relu' at position 10 ('+bn:relu'): expected 'p' and the padding");
  struct Bad {
    const char* text;
    const char* where;  // " at position N ('token')" or the end
    const char* what;
  };
  for (const Bad& b : std::vector<Bad>{
           {"", "at position 0 (the end)", "empty layer list"},
           {"dense400", "at position 8 (the end)", "expected ':' and an activation"},
           {"dense400:relu,", "at position 14 (the end)", "expected a layer after ','"},
           {"dense400:relu,,dense3:none", "at position 14 (',')", "expected a layer"},
           {"dens400:relu", "at position 0 ('dens400:relu')", "expected a layer: dense<N>"},
           {"Dense400:relu", "at position 0", "expected a layer"},
           {"dense:relu", "at position 5 (':relu')", "expected the output width after 'dense'"},
           {"dense-4:relu", "at position 5 ('-4:relu')", "expected the output width"},
           {"dense 400:relu", "at position 5 (' 400:relu')", "expected the output width"},
           {"dense400:relu ", "at position 9 ('relu ')", "unknown activation 'relu '"},
           {"dense400:Relu", "at position 9 ('Relu')", "unknown activation 'Relu'"},
           {"dense400:", "at position 9 (the end)", "unknown activation ''"},
           {"dense0400:relu", "at position 5 ('0400:relu')", "leading zero"},
           {"dense2000000:relu", "at position 5", "out of range 0..1048576"},
           {"dense99999999999999999999:relu", "at position 5", "out of range 0..1048576"},
           {"dense128x3:none", "at position 10 (':none')", "expected 'x' and the width"},
           {"dense1024x1024x1024:none", "at position 5 ('1024x1024x1024:none')", "more than 1048576"},
           {"conv32k4s2p:relu", "at position 11 (':relu')", "expected the padding after 'p'"},
           {"conv32s2k4p1:relu", "at position 6 ('s2k4p1:relu')", "expected 'k' and the kernel size"},
           {"conv32k4s2p1o1:relu", "at position 12 ('o1:relu')", "expected '+bn' or ':'"},
           {"convT32k4s2p1o0:relu", "at position 13 ('o0:relu')", "leave out 'o0'"},
           {"conv32k4s2p1+bm:relu", "at position 12 ('+bm:relu')", "expected '+bn' or ':'"},
           {"conv32k4s2p1+bn+bn:relu", "at position 15 ('+bn:relu')", "expected ':'"},
           {"dense400:relu;dense3:none", "at position 9", "unknown activation 'relu;dense3:none'"},
           {"dense400:relu,dense784", "at position 22 (the end)", "expected ':'"}}) {
    const std::string e = error_of([&] { parse_layers(b.text, "--decoder"); });
    EXPECT_CONTAINS(e, std::string("--decoder: bad layer list '") + b.text + "' " + b.where);
    EXPECT_CONTAINS(e, b.what);
  }
}

TEST(ModelLayers, ShapeText) {
  EXPECT_EQ(parse_shape("1x28x28", "--input"), (Shape{1, 28, 28}));
  EXPECT_EQ(parse_shape("3x11x9", "--input").str(), "3x11x9");
  for (const char* bad : {"", "1x28", "1x28x28x1", "0x28x28", "1x028x28", "1x28x", "ax28x28", "1X28X28", "1x2000000x1"})
    EXPECT_CONTAINS(error_of([&] { parse_shape(bad, "--input"); }), std::string("--input: '") + bad + "'");
}

// ---- JSON -------------------------------------------------------------------------------

TEST(ModelLayers, JsonRoundTripsExactly) {
  std::vector<ModelSpec> specs = {odd_3x11x9(), odd_1x13x13(), conv_mnist_spec(128)};
  for (const std::string& name : preset_names()) specs.push_back(preset_spec(name));
  for (const ModelSpec& s : specs) {
    const nlohmann::json j = to_json(s);
    const ModelSpec back = spec_from_json(j);
    EXPECT_EQ(back, s) << j.dump();
    EXPECT_EQ(to_json(back), j);
    EXPECT_EQ(spec_from_json(nlohmann::json::parse(j.dump())), s);  // through text too
  }
  const nlohmann::json l = to_json(conv_transpose2d(64, 4, 2, 1, 1, kRelu, true));
  EXPECT_EQ(l, nlohmann::json::parse(R"({"type": "conv_transpose2d", "out_channels": 64, "kernel": 4, "stride": 2,
      "padding": 1, "output_padding": 1, "batch_norm": true, "activation": "relu"})"));
  EXPECT_EQ(to_json(dense_to({128, 3, 3}, kNone)),
            nlohmann::json::parse(R"({"type": "dense", "out_features": 1152, "shape": [128, 3, 3], "activation": "none"})"));
  // batch_norm and output_padding may be left out when reading.
  nlohmann::json j = to_json(conv_mnist_spec());
  j["decoder"][2].erase("batch_norm");
  j["decoder"][2].erase("output_padding");
  EXPECT_EQ(spec_from_json(j), conv_mnist_spec());
}

TEST(ModelLayers, BadJsonNamesTheKey) {
  const nlohmann::json good = to_json(conv_mnist_spec());
  auto err = [&](auto&& edit) {
    nlohmann::json j = good;
    edit(j);
    return error_of([&] { spec_from_json(j); });
  };
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][1]["kernal"] = 4; }),
            "model JSON: decoder[1]: unknown key 'kernal' (expected type, out_channels, kernel, stride, padding, "
            "batch_norm, activation, output_padding)");
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][1].erase("kernel"); }), "model JSON: decoder[1]: missing key 'kernel'");
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][1]["kernel"] = 0; }),
            "model JSON: decoder[1].kernel: 0 is out of range 1..1048576");
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][1]["kernel"] = "4"; }),
            "model JSON: decoder[1].kernel: expected an integer, got \"4\"");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["stride"] = 2.5; }),
            "model JSON: encoder[0].stride: expected an integer, got 2.5");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["padding"] = -1; }),
            "model JSON: encoder[0].padding: -1 is out of range 0..1048576");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["out_channels"] = 18446744073709551615ull; }),
            "model JSON: encoder[0].out_channels: 18446744073709551615 is out of range 1..1048576");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["batch_norm"] = 1; }),
            "model JSON: encoder[0].batch_norm: expected true or false, got 1");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["activation"] = "swish"; }),
            "model JSON: encoder[0].activation: unknown activation \"swish\", expected "
            "relu|tanh|none|leaky_relu|elu|gelu|gelu_tanh|silu");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["type"] = "conv3d"; }),
            "model JSON: encoder[0].type: unknown layer type \"conv3d\", expected dense|conv2d|conv_transpose2d");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][0]["output_padding"] = 0; }),
            "model JSON: encoder[0]: unknown key 'output_padding' (expected type, out_channels, kernel, stride, "
            "padding, batch_norm, activation)");
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][0]["shape"] = {128, 3, 4}; }),
            "model JSON: decoder[0].shape: 128x3x4 has 1536 elements but out_features is 1152");
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][0]["shape"] = {128, 9}; }),
            "model JSON: decoder[0].shape: expected [C, H, W], got [128,9]");
  EXPECT_EQ(err([](nlohmann::json& j) { j["input"] = {1, 28, 0}; }), "model JSON: input[2]: 0 is out of range 1..1048576");
  EXPECT_EQ(err([](nlohmann::json& j) { j.erase("latent"); }), "model JSON: (top level): missing key 'latent'");
  EXPECT_EQ(err([](nlohmann::json& j) { j["hidden"] = 3; }),
            "model JSON: (top level): unknown key 'hidden' (expected input, latent, encoder, decoder)");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"] = 3; }), "model JSON: encoder: expected an array of layers, got 3");
  EXPECT_EQ(err([](nlohmann::json& j) { j["encoder"][1] = "conv"; }),
            "model JSON: encoder[1]: expected an object, got \"conv\"");
  // Well-formed, but the model does not fit together: the layer check's message.
  EXPECT_CONTAINS(err([](nlohmann::json& j) { j["decoder"][1]["output_padding"] = 0; }),
                  "model JSON: decoder layer 3 (conv_transpose2d 1 k4 s2 p1): the decoder's output is 1x24x24");
  EXPECT_EQ(err([](nlohmann::json& j) { j["decoder"][1]["output_padding"] = 2; }),
            "model JSON: decoder layer 1 (conv_transpose2d 64 k4 s2 p1 o2): output_padding 2 must be smaller than the "
            "stride 2 (PyTorch refuses it): use 0..1, or a larger stride, kernel or less padding");
  EXPECT_THROW(spec_from_json(nlohmann::json::array()), Error);
}

// ---- the flat layout: identical to ParamLayout for every MLP ----------------------------

std::vector<VaeConfig> mlp_configs() {
  std::vector<VaeConfig> out(6);
  out[1].encoder_hidden = {512, 256};
  out[2].encoder_hidden = {300, 100};
  out[2].decoder_hidden_override = std::vector<int>{64, 128, 256};
  out[3].activation = Activation::Tanh;
  out[4].likelihood = Likelihood::Gaussian;
  out[4].input_dim = 50;
  out[5].latent = 3;
  out[5].init = InitScheme::Xavier;
  out[5].seed = 7;
  return out;
}

// The MLP's flat layout as README "Flat parameters" defines it (and every committed case file,
// checkpoint and figure uses): enc.<i>, enc.mu, enc.logvar, dec.<i>, dec.out, each weight
// [out, in] then bias [out], back to back. Written out here independently of ModelLayers,
// which ParamLayout now derives from.
std::vector<ParamView> documented_mlp_layout(const VaeConfig& c) {
  std::vector<ParamView> v;
  size_t at = 0;
  const auto add = [&](const std::string& prefix, int in, int out) {
    v.push_back({prefix + ".weight", {out, in}, at, size_t(out) * size_t(in)});
    at += v.back().size;
    v.push_back({prefix + ".bias", {out}, at, size_t(out)});
    at += v.back().size;
  };
  int width = c.input_dim;
  for (size_t i = 0; i < c.encoder_hidden.size(); ++i) {
    add("enc." + std::to_string(i), width, c.encoder_hidden[i]);
    width = c.encoder_hidden[i];
  }
  add("enc.mu", width, c.latent);
  add("enc.logvar", width, c.latent);
  width = c.latent;
  const std::vector<int> dec = c.decoder_hidden();
  for (size_t i = 0; i < dec.size(); ++i) {
    add("dec." + std::to_string(i), width, dec[i]);
    width = dec[i];
  }
  add("dec.out", width, c.input_dim);
  return v;
}

TEST(ModelLayers, MlpParameterViewsAreTheDocumentedLayoutExactly) {
  for (const VaeConfig& c : mlp_configs()) {
    const std::vector<ParamView> today = documented_mlp_layout(c);
    const ModelLayers m(mlp_spec(c));
    EXPECT_EQ(ParamLayout(c).views().size(), today.size()) << c.summary();
    ASSERT_EQ(m.views().size(), today.size()) << c.summary();
    for (size_t t = 0; t < m.views().size(); ++t) {
      const ParamView &a = m.views()[t], &b = today[t];
      EXPECT_EQ(a.name, b.name) << c.summary();
      EXPECT_EQ(a.shape, b.shape) << a.name;
      EXPECT_EQ(a.offset, b.offset) << a.name;
      EXPECT_EQ(a.size, b.size) << a.name;
    }
    EXPECT_EQ(m.total(), today.back().offset + today.back().size);
    EXPECT_EQ(m.buffers().total(), 0u);
    // The activation maps onto every hidden layer, and none onto the heads and the output.
    for (const DerivedLayer& l : m.layers()) {
      const bool hidden = l.role == LayerRole::Encoder || l.role == LayerRole::Decoder;
      EXPECT_EQ(l.spec.activation, hidden ? to_layer_activation(c.activation) : kNone) << l.prefix;
    }
  }
}

TEST(ModelLayers, MlpInitIsInitParamsBitForBit) {
  for (const VaeConfig& c : mlp_configs()) {
    const ParamLayout today(c);
    const std::vector<double> expected = init_params(c, today);
    const std::vector<double> got = init_params(ModelLayers(mlp_spec(c)), c.init, c.seed);
    ASSERT_EQ(got.size(), expected.size());
    if (c.init == InitScheme::Torch) {
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(double)), 0) << c.summary();
    } else {
      // Xavier biases are 0 (init_params writes 0 * (2u - 1), a signed zero; the values are equal).
      EXPECT_EQ(got, expected) << c.summary();
    }
    VaeConfig x = c;
    x.init = InitScheme::Xavier;
    EXPECT_EQ(init_params(ModelLayers(mlp_spec(x)), InitScheme::Xavier, x.seed), init_params(x, ParamLayout(x)));
  }
}

// ---- initialisation of conv layers ----------------------------------------------------

TEST(ModelLayers, InitRulesFollowPyTorchsFanIn) {
  const ModelLayers m(conv_mnist_spec());
  const std::vector<TensorInit> torch = init_rules(m, InitScheme::Torch);
  const std::vector<TensorInit> xavier = init_rules(m, InitScheme::Xavier);
  auto rule = [&](const std::vector<TensorInit>& r, const std::string& name) {
    const auto& views = m.views();
    for (size_t t = 0; t < views.size(); ++t)
      if (views[t].name == name) return r[t];
    ADD_FAILURE() << name;
    return TensorInit{};
  };
  // Conv2d(32 -> 64, k4): fan_in = 32*16.
  EXPECT_DOUBLE_EQ(rule(torch, "enc.1.weight").value, 1 / std::sqrt(32.0 * 16));
  EXPECT_DOUBLE_EQ(rule(torch, "enc.1.bias").value, 1 / std::sqrt(32.0 * 16));
  EXPECT_DOUBLE_EQ(rule(torch, "enc.0.weight").value, 1 / std::sqrt(1.0 * 16));
  // ConvTranspose2d(128 -> 64, k4), weight [128, 64, 4, 4]: torch's fan_in is dim 1 = 64*16
  // (PyTorch: ConvTranspose2d(128, 64, 4) has max |w| = 1/32), not 128*16.
  EXPECT_DOUBLE_EQ(rule(torch, "dec.1.weight").value, 1.0 / 32);
  EXPECT_DOUBLE_EQ(rule(torch, "dec.1.bias").value, 1.0 / 32);
  EXPECT_DOUBLE_EQ(rule(torch, "dec.out.weight").value, 1 / std::sqrt(1.0 * 16));  // 32 -> 1: fan_in 1*16
  EXPECT_DOUBLE_EQ(rule(torch, "enc.mu.weight").value, 1 / std::sqrt(1152.0));
  EXPECT_DOUBLE_EQ(rule(torch, "dec.0.weight").value, 1 / std::sqrt(20.0));
  for (const TensorInit& r : torch) EXPECT_TRUE(r.uniform);
  // Xavier: sqrt(6 / (fan_in + fan_out)), fan_out = dim 0 * k*k; biases 0.
  EXPECT_DOUBLE_EQ(rule(xavier, "dec.1.weight").value, std::sqrt(6.0 / (64 * 16 + 128 * 16)));
  EXPECT_DOUBLE_EQ(rule(xavier, "enc.2.weight").value, std::sqrt(6.0 / (64 * 16 + 128 * 16)));
  EXPECT_DOUBLE_EQ(rule(xavier, "dec.out.weight").value, std::sqrt(6.0 / (1 * 16 + 32 * 16)));
  EXPECT_FALSE(rule(xavier, "dec.1.bias").uniform);
  EXPECT_EQ(rule(xavier, "dec.1.bias").value, 0.0);
  EXPECT_EQ(m.layer("dec.1").fan_in, 64 * 16);
  EXPECT_EQ(m.layer("dec.1").fan_out, 128 * 16);
  EXPECT_EQ(m.layer("enc.2").fan_in, 64 * 16);
  EXPECT_EQ(m.layer("enc.2").fan_out, 128 * 16);
}

TEST(ModelLayers, InitValuesStayWithinAndFillTheirBounds) {
  for (const ModelSpec& s : {conv_mnist_spec(), conv_celeba64_spec(), odd_3x11x9()}) {
    const ModelLayers m(s);
    for (InitScheme scheme : {InitScheme::Torch, InitScheme::Xavier}) {
      const std::vector<double> p = init_params(m, scheme, 3);
      EXPECT_EQ(p, init_params(m, scheme, 3));
      EXPECT_NE(p, init_params(m, scheme, 4));
      const std::vector<TensorInit> rules = init_rules(m, scheme);
      for (size_t t = 0; t < m.views().size(); ++t) {
        const ParamView& v = m.views()[t];
        const bool bn = v.name.find(".bn.") != std::string::npos;
        const bool bias = !bn && v.name.size() > 5 && v.name.compare(v.name.size() - 5, 5, ".bias") == 0;
        const DerivedLayer& l = m.layer(v.name.substr(0, v.name.find(bn ? ".bn." : (bias ? ".bias" : ".weight"))));
        // The bound from the layer's own description, by the formulas.
        const int64_t k2 = l.spec.kind == LayerKind::Dense ? 1 : int64_t(l.spec.kernel) * l.spec.kernel;
        const int64_t in_c = l.spec.kind == LayerKind::Dense ? l.in.numel() : l.in.c;
        const int64_t fan_in = (l.spec.kind == LayerKind::ConvTranspose2d ? l.spec.out : in_c) * k2;
        const int64_t fan_out = (l.spec.kind == LayerKind::ConvTranspose2d ? in_c : l.spec.out) * k2;
        if (bn) {
          const double value = v.name.compare(v.name.size() - 7, 7, ".weight") == 0 ? 1.0 : 0.0;
          EXPECT_FALSE(rules[t].uniform) << v.name;
          for (size_t i = 0; i < v.size; ++i) ASSERT_EQ(p[v.offset + i], value) << v.name;
          continue;
        }
        if (scheme == InitScheme::Xavier && bias) {
          for (size_t i = 0; i < v.size; ++i) ASSERT_EQ(p[v.offset + i], 0.0) << v.name;
          continue;
        }
        const double bound = scheme == InitScheme::Torch ? 1 / std::sqrt(double(fan_in))
                                                         : std::sqrt(6.0 / double(fan_in + fan_out));
        EXPECT_DOUBLE_EQ(rules[t].value, bound) << v.name;
        double max_abs = 0, mean = 0;
        for (size_t i = 0; i < v.size; ++i) {
          max_abs = std::max(max_abs, std::abs(p[v.offset + i]));
          mean += p[v.offset + i];
        }
        mean /= double(v.size);
        EXPECT_LE(max_abs, bound) << v.name;
        if (v.size >= 1000) {
          EXPECT_GE(max_abs, 0.97 * bound) << v.name;
          EXPECT_LT(std::abs(mean), 0.1 * bound) << v.name;
        }
        // Each tensor draws from its own stream, element i from counter i.
        EXPECT_EQ(p[v.offset + v.size - 1],
                  bound * (2.0 * counter_uniform(3, kStreamParamsBase + t, v.size - 1) - 1.0)) << v.name;
      }
    }
  }
}

// ---- multiply-adds ----------------------------------------------------------------------

TEST(ModelLayers, ConvMnistMultiplyAddsByHand) {
  const ModelLayers m(conv_mnist_spec());
  // conv: Cout * Ho * Wo * Cin * k^2; transposed: Cin * H * W * Cout * k^2; dense: in * out.
  const int64_t enc0 = 32 * 14 * 14 * 1 * 16;     // 100352
  const int64_t enc1 = 64 * 7 * 7 * 32 * 16;      // 1605632
  const int64_t enc2 = 128 * 3 * 3 * 64 * 16;     // 1179648
  const int64_t head = 1152 * 20;                 // 23040
  const int64_t dec0 = 20 * 1152;
  const int64_t dec1 = 128 * 3 * 3 * 64 * 16;     // 1179648: mirrors enc2
  const int64_t dec2 = 64 * 7 * 7 * 32 * 16;      // 1605632: mirrors enc1
  const int64_t out = 32 * 14 * 14 * 1 * 16;      // 100352: mirrors enc0
  EXPECT_EQ(m.layer("enc.0").macs, enc0);
  EXPECT_EQ(m.layer("enc.1").macs, enc1);
  EXPECT_EQ(m.layer("enc.2").macs, enc2);
  EXPECT_EQ(m.layer("enc.mu").macs, head);
  EXPECT_EQ(m.layer("enc.logvar").macs, head);
  EXPECT_EQ(m.layer("dec.0").macs, dec0);
  EXPECT_EQ(m.layer("dec.1").macs, dec1);
  EXPECT_EQ(m.layer("dec.2").macs, dec2);
  EXPECT_EQ(m.layer("dec.out").macs, out);
  EXPECT_EQ(m.macs(), enc0 + enc1 + enc2 + 2 * head + dec0 + dec1 + dec2 + out);
  EXPECT_EQ(m.macs(), 5840384);
  // The MLP: the weights' count, as the FLOP model's 651200.
  EXPECT_EQ(ModelLayers(preset_spec("mlp")).macs(), 784 * 400 + 2 * 400 * 20 + 20 * 400 + 400 * 784);
  EXPECT_THROW(m.layer("enc.9"), Error);
}

TEST(ModelLayers, TableListsEveryLayer) {
  const std::string t = ModelLayers(conv_mnist_spec()).table();
  EXPECT_CONTAINS(t, "dec.1       conv_transpose2d 64 k4 s2 p1 o1   relu  128x3x3 -> 64x7x7  params 131136  MACs 1179648");
  EXPECT_CONTAINS(t, "total: params 399337, MACs per image 5840384, buffers 0");
}

}  // namespace
}  // namespace vae
