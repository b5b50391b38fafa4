#pragma once
// The model as a list of layers: an input shape C x H x W, an encoder body (dense and conv2d
// layers), the two dense heads mu and log sigma^2 of width Z, and a decoder (dense, dense to a
// shape, conv_transpose2d, conv2d) whose last layer is the output layer. This is the one place
// shapes, multiply-add counts, parameter names and the flat parameter layout come from, for
// MLPs and convolutional VAEs alike.
//
// Every shape is derived and checked once, when a ModelLayers is built from a ModelSpec; a bad
// description throws vae::Error naming the layer ("decoder layer 1 (conv_transpose2d 64 k4 s2
// p1)"), the shapes involved and what would fix it.
//
// Shapes per layer (PyTorch's formulas, dilation 1, groups 1):
//   dense            in: anything (flattened to in_features = C*H*W); out: out_features x 1 x 1,
//                    or the shape C x H x W it is reshaped to (C*H*W = out_features)
//   conv2d           H_out = floor((H + 2p - k) / s) + 1
//   conv_transpose2d H_out = (H - 1) s - 2p + k + output_padding, with output_padding < s
// (the same for W). k >= 1, s >= 1, p >= 0, every output size >= 1. A conv layer needs a
// C x H x W input: the model's input, a conv layer, or a dense layer reshaped to a shape.
// Batch norm (BatchNorm2d, after the conv, before the activation) is for conv layers only.
// The decoder's last layer has activation none and no batch norm (its outputs are the logits,
// or the Gaussian mean through a sigmoid, which the likelihood applies) and gives exactly the
// input shape (a flat dense output gives C*H*W features).
//
// Text form of a layer list (command line: --encoder, --decoder), parsed and printed by
// parse_layers / to_string; the printed form is canonical and print(parse(t)) == t for every
// accepted t, parse(print(l)) == l for every list:
//   list   := layer ("," layer)*
//   layer  := body ["+bn"] ":" act
//   body   := "dense" N ["x" H "x" W]                     dense N, or dense to the shape N x H x W
//           | "conv"  N "k" K "s" S "p" P                 conv2d, N output channels
//           | "convT" N "k" K "s" S "p" P ["o" O]         conv_transpose2d, output_padding O > 0
//   act    := "relu" | "tanh" | "none" | "leaky_relu" [SLOPE] | "elu" | "gelu" | "gelu_tanh" | "silu"
//             (SLOPE: LeakyReLU's negative slope, a decimal in (0, 1) in its shortest form, e.g.
//             "leaky_relu0.2"; without it PyTorch's default 0.01, which is then never written)
//   numbers: decimal digits, no sign, no leading zeros, at most 1048576; no spaces anywhere.
// e.g. encoder "conv32k4s2p1+bn:relu,dense400:tanh",
//      decoder "dense128x3x3:none,convT64k4s2p1o1:relu,convT1k4s2p1:none".
// Note that "dense1152" is a flat 1152-vector and "dense128x3x3" the same 1152 numbers viewed
// as 128 channels of 3x3; only the latter may be followed by a conv layer.
//
// Flat parameters (shared with ParamLayout for MLPs: the same names, shapes and order), back
// to back, each layer's weight, bias, then (batch norm) bn.weight, bn.bias:
//   dense [out, in]; conv2d [out, in, k, k]; conv_transpose2d [in, out, k, k]; bias [out];
//   bn.weight, bn.bias [C]
// named enc.<i>.* for encoder layer i, enc.mu.*, enc.logvar.*, dec.<i>.* for decoder layer i
// except the last, which is dec.out.*. Batch-norm running statistics are state, not
// parameters: a separate BufferLayout of enc.<i>.bn.running_mean, .running_var ([C]) and
// .num_batches_tracked (a scalar count), in PyTorch's state_dict order.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.h"
#include "model/conv_geometry.h"
#include "model/params.h"

namespace vae {

// A layer's activation; None is the identity (the output layer, the seed's dense-to-shape).
// As PyTorch defines them: LeakyRelu max(x, 0) + slope min(x, 0) (nn.LeakyReLU, its slope in
// LayerSpec::negative_slope), Elu x > 0 ? x : exp(x) - 1 (nn.ELU, alpha 1), Gelu x Phi(x)
// (nn.GELU()), GeluTanh its tanh form (nn.GELU(approximate="tanh")), Silu x sigmoid(x).
// The public models use them (PyTorch-VAE: LeakyReLU throughout); fused-cuda's kernels run
// relu, tanh and none only, and refuse the others up front naming the layer.
enum class LayerActivation { None, Relu, Tanh, LeakyRelu, Elu, Gelu, GeluTanh, Silu };
inline constexpr double kLeakyReluDefaultSlope = 0.01;  // nn.LeakyReLU's default
LayerActivation to_layer_activation(Activation a);
std::string to_string(LayerActivation a);            // "none" | "relu" | "tanh" | "leaky_relu" | ...
LayerActivation parse_layer_activation(const std::string& s);  // throws naming the choices
// Whether the activation's derivative needs its input (not only its output): gelu, gelu_tanh, silu.
bool derivative_needs_input(LayerActivation a);

enum class LayerKind { Dense, Conv2d, ConvTranspose2d };

// BatchNorm2d's defaults, which every implementation of the models uses.
constexpr double kBatchNormEps = 1e-5;
constexpr double kBatchNormMomentum = 0.1;
std::string to_string(LayerKind k);                  // "dense" | "conv2d" | "conv_transpose2d"

struct Shape {
  int64_t c = 1, h = 1, w = 1;
  int64_t numel() const { return c * h * w; }
  std::string str() const;                           // "1x28x28"
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
};
// Parses "1x28x28" (three positive integers); `option` names the flag in errors.
Shape parse_shape(const std::string& text, const std::string& option);

// One layer as described. Fields that do not apply to the kind stay 0 / false / unset (the
// checks refuse anything else, so the text and JSON forms are exact).
struct LayerSpec {
  LayerKind kind = LayerKind::Dense;
  int out = 0;                  // dense: out_features; conv: out_channels
  std::optional<Shape> reshape; // dense only: the output viewed as C x H x W (C*H*W == out)
  int kernel = 0, stride = 0, padding = 0;  // conv only
  int output_padding = 0;       // conv_transpose2d only
  bool batch_norm = false;      // conv only: BatchNorm2d(out) after the conv
  LayerActivation activation = LayerActivation::None;
  double negative_slope = 0;    // leaky_relu only (default kLeakyReluDefaultSlope), else 0

  bool operator==(const LayerSpec& o) const;
  bool operator!=(const LayerSpec& o) const { return !(*this == o); }
};

LayerSpec dense(int out_features, LayerActivation act);
LayerSpec dense_to(Shape shape, LayerActivation act);  // out = shape.numel(), then reshape
LayerSpec conv2d(int out_channels, int kernel, int stride, int padding, LayerActivation act,
                 bool batch_norm = false);
LayerSpec conv_transpose2d(int out_channels, int kernel, int stride, int padding, int output_padding,
                           LayerActivation act, bool batch_norm = false);

// The text form above. `option` names the flag in errors, which quote the text, the position
// (0-based character offset) and the token at fault.
std::vector<LayerSpec> parse_layers(const std::string& text, const std::string& option);
std::string to_string(const LayerSpec& layer);       // "convT64k4s2p1o1+bn:relu"
// The activation as the text form writes it: "relu", "leaky_relu", "leaky_relu0.2", ...
std::string activation_text(const LayerSpec& layer);
std::string to_string(const std::vector<LayerSpec>& layers);
// Short description for messages and tables: "conv_transpose2d 64 k4 s2 p1 o1", "dense 128x3x3".
std::string describe(const LayerSpec& layer);

struct ModelSpec {
  Shape input{1, 28, 28};
  std::vector<LayerSpec> encoder;   // input side first
  int latent = 20;                  // Z
  std::vector<LayerSpec> decoder;   // latent side first; the last one is the output layer

  bool operator==(const ModelSpec& o) const;
  bool operator!=(const ModelSpec& o) const { return !(*this == o); }
};
// "1x28x28 | conv32k4s2p1:relu,... | z20 | dense128x3x3:none,..."
std::string summary(const ModelSpec& spec);

// JSON: {"input": [C, H, W], "latent": Z, "encoder": [layer...], "decoder": [layer...]}, a layer
// {"type": "dense", "out_features": N[, "shape": [C, H, W]], "activation": A} or
// {"type": "conv2d" | "conv_transpose2d", "out_channels", "kernel", "stride", "padding",
//  ["output_padding" (transposed only),] "batch_norm", "activation"}, with "negative_slope"
// beside an activation "leaky_relu" (and only there). to_json writes every key
// of the kind; spec_from_json refuses unknown or missing keys and values of the wrong type or
// range naming the key ("model JSON: decoder[1].kernel: ..."), then validates the whole model
// as ModelLayers does. from_json(to_json(s)) == s.
nlohmann::json to_json(const LayerSpec& layer);
nlohmann::json to_json(const ModelSpec& spec);
ModelSpec spec_from_json(const nlohmann::json& j);

// Presets by name (see layers.cpp for where each choice comes from):
//   mlp            today's VaeConfig MLP (input_dim as 1 x sqrt(D) x sqrt(D) when D is a square,
//                  else 1 x 1 x D; every hidden layer with config.activation)
//   conv-mnist     the seed's ConvVAE for 1x28x28, latent 20 by default
//   conv-celeba64  the seed's CelebAVAE for 3x64x64 with batch norm, latent 256 by default
ModelSpec mlp_spec(const VaeConfig& config);
ModelSpec conv_mnist_spec(int latent = 20);
ModelSpec conv_celeba64_spec(int latent = 256);
std::vector<std::string> preset_names();
// The preset called `name` (mlp: the default VaeConfig's), with `latent` if given; an unknown
// name throws listing the presets.
ModelSpec preset_spec(const std::string& name, std::optional<int> latent = std::nullopt);
// The layers of config's model: config.layers, or mlp_spec(config) for an MLP.
ModelSpec model_spec(const VaeConfig& config);

enum class LayerRole { Encoder, Head, Decoder, Output };

// One layer with everything derived from the description.
struct DerivedLayer {
  LayerRole role = LayerRole::Encoder;
  int index = 0;                 // position in its list (encoder/decoder); heads: 0 = mu, 1 = logvar
  std::string prefix;            // parameter prefix: "enc.0", "enc.mu", "dec.1", "dec.out"
  std::string label;             // for messages: "decoder layer 1 (conv_transpose2d 64 k4 s2 p1)"
  LayerSpec spec;                // the heads are dense(Z, none)
  Shape in, out;                 // as arriving / leaving (dense: out is N x 1 x 1 unless reshaped)
  bool out_flat = true;          // a flat vector (dense without a shape): no conv may follow
  int64_t macs = 0;              // multiply-adds per image: dense in*out; conv Cout*Ho*Wo*Cin*k^2;
                                 // transposed Cin*H*W*Cout*k^2 (biases and batch norm not counted)
  // PyTorch's torch.nn.init._calculate_fan_in_and_fan_out on the weight: fan_in = dim1*k*k,
  // fan_out = dim0*k*k (so a transposed conv's fan_in is out_channels*k*k).
  int64_t fan_in = 0, fan_out = 0;
  size_t weight = 0, bias = 0;   // indices into ModelLayers::views()
  std::optional<size_t> bn_weight, bn_bias;  // likewise, with batch norm
  // Indices into ModelLayers::buffers().views() of the layer's running statistics, with batch norm.
  struct BatchNormBuffers {
    size_t mean = 0, var = 0, count = 0;
  };
  std::optional<BatchNormBuffers> bn_buffers;
};

// A conv or transposed-conv layer's geometry, from the shapes the model derived (throws
// vae::Error for a dense layer).
ConvGeometry conv_geometry(const DerivedLayer& layer);

// Batch-norm running statistics (state, not parameters), in one flat float64 buffer.
// What a buffer is, so that no reader infers it from its name or its place in the layer's three.
enum class BufferKind { RunningMean, RunningVar, BatchCount };

struct BufferView {
  std::string name;            // "enc.0.bn.running_mean"
  std::vector<int64_t> shape;  // [C], or {} for num_batches_tracked
  size_t offset = 0, size = 0;
  double initial = 0;          // running_mean 0, running_var 1, num_batches_tracked 0
  BufferKind kind = BufferKind::RunningMean;
  // num_batches_tracked: an integer count (int64 in PyTorch), not a float statistic.
  bool is_count() const { return kind == BufferKind::BatchCount; }
};

class BufferLayout {
 public:
  const std::vector<BufferView>& views() const { return views_; }
  const BufferView& view(const std::string& name) const;  // throws vae::Error for unknown names
  size_t total() const { return total_; }
  std::vector<double> initial_values() const;

 private:
  friend class ModelLayers;
  // Returns the new view's index.
  size_t add(const std::string& name, std::vector<int64_t> shape, double initial, BufferKind kind);
  std::vector<BufferView> views_;
  size_t total_ = 0;
};

class ModelLayers {
 public:
  // Derives and checks every shape; throws vae::Error naming the layer at fault.
  explicit ModelLayers(ModelSpec spec);

  const ModelSpec& spec() const { return spec_; }
  // Every layer in order: encoder layers, mu, logvar, decoder layers (the last is the output).
  const std::vector<DerivedLayer>& layers() const { return layers_; }
  const DerivedLayer& layer(const std::string& prefix) const;  // throws for unknown prefixes

  const std::vector<ParamView>& views() const { return views_; }
  const ParamView& view(const std::string& name) const;      // throws vae::Error for unknown names
  size_t total() const { return total_; }                    // parameters
  const BufferLayout& buffers() const { return buffers_; }
  int64_t macs() const { return macs_; }                     // per image, all layers
  // One line per layer: prefix, description, activation, in -> out, parameters, MACs.
  std::string table() const;

 private:
  void derive_stack(bool encoder);
  void add_params(DerivedLayer& layer);
  void add_macs(const DerivedLayer& layer);

  ModelSpec spec_;
  std::vector<DerivedLayer> layers_;
  std::vector<ParamView> views_;
  size_t total_ = 0;
  BufferLayout buffers_;
  int64_t macs_ = 0;
};

// How tensor t of the layout is initialised (each PyTorch module's default, or Xavier).
struct TensorInit {
  bool uniform = true;  // U(-value, +value); otherwise every element = value
  double value = 0;
};
std::vector<TensorInit> init_rules(const ModelLayers& model, InitScheme scheme);

// Deterministic initial parameters exactly as init_params(VaeConfig, ParamLayout) draws them:
// tensor t takes value i = bound * (2 counter_uniform(seed, kStreamParamsBase + t, i) - 1);
// constants draw nothing. For an MLP the result equals init_params bit for bit.
std::vector<double> init_params(const ModelLayers& model, InitScheme scheme, uint64_t seed);

}  // namespace vae
