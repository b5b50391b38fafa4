#include "model/layers.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/counter_rng.h"
#include "common/error.h"
#include "model/conv_geometry.h"

namespace vae {

namespace {

// Widths, channels, kernel sizes and spatial sizes above this are almost certainly a typo
// (the same bound as VaeConfig's widths).
constexpr int64_t kMaxDim = 1 << 20;
// No tensor (activation of one image, or parameter) may have more elements than this.
constexpr int64_t kMaxElements = int64_t(1) << 34;
constexpr int64_t kMaxMacs = int64_t(1) << 62;

constexpr std::pair<const char*, LayerActivation> kLayerActivations[] = {
    {"relu", LayerActivation::Relu},       {"tanh", LayerActivation::Tanh}, {"none", LayerActivation::None},
    {"leaky_relu", LayerActivation::LeakyRelu}, {"elu", LayerActivation::Elu}, {"gelu", LayerActivation::Gelu},
    {"gelu_tanh", LayerActivation::GeluTanh}, {"silu", LayerActivation::Silu}};
constexpr const char* kActivationChoices = "relu|tanh|none|leaky_relu[SLOPE]|elu|gelu|gelu_tanh|silu";

// The shortest decimal that reads back as v (std::to_chars), e.g. "0.2".
std::string shortest(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Parses an activation token into s.activation (and s.negative_slope); "" when it is one,
// else why not.
std::string parse_activation_token(const std::string& act, LayerSpec& s) {
  const std::string leaky = "leaky_relu";
  if (act.rfind(leaky, 0) == 0 && act.size() > leaky.size()) {
    const std::string slope = act.substr(leaky.size());
    double v = 0;
    const auto r = std::from_chars(slope.data(), slope.data() + slope.size(), v);
    if (r.ec != std::errc() || r.ptr != slope.data() + slope.size() || !(v > 0 && v < 1))
      return "leaky_relu's negative slope '" + slope + "' is not a decimal in (0, 1)";
    if (v == kLeakyReluDefaultSlope) return "leaky_relu's slope 0.01 is the default: write 'leaky_relu'";
    if (shortest(v) != slope) return "write leaky_relu's slope '" + slope + "' as " + shortest(v);
    s.activation = LayerActivation::LeakyRelu;
    s.negative_slope = v;
    return "";
  }
  for (const auto& [name, value] : kLayerActivations)
    if (act == name) {
      s.activation = value;
      s.negative_slope = value == LayerActivation::LeakyRelu ? kLeakyReluDefaultSlope : 0.0;
      return "";
    }
  return "unknown activation '" + act + "', expected " + kActivationChoices;
}

std::string str(int64_t v) { return std::to_string(v); }

// a * b, refusing results above `limit` (a, b >= 0).
int64_t mul_limited(int64_t a, int64_t b, int64_t limit, const std::string& label, const char* what) {
  if (a != 0 && b > limit / a)
    throw Error(label + ": " + what + " would exceed " + str(limit) + " elements; the model is far too large");
  return a * b;
}

bool is_conv(LayerKind k) { return k != LayerKind::Dense; }

std::string stack_name(bool encoder) { return encoder ? "encoder" : "decoder"; }

// ---- shape arithmetic -----------------------------------------------------------------

// model/conv_geometry's formulas, the one copy.
int64_t spatial_out(int64_t in, const LayerSpec& s) {
  return ConvGeometry::out_extent(in, s.kernel, s.stride, s.padding, s.output_padding, s.kind == LayerKind::ConvTranspose2d);
}

// ---- the decoder-output diagnosis ---------------------------------------------------

int64_t dim_of(const Shape& s, bool height) { return height ? s.h : s.w; }

std::string chain_text(const std::vector<int64_t>& sizes) {
  std::string t;
  for (size_t i = 0; i < sizes.size(); ++i) t += (i ? "->" : "") + str(sizes[i]);
  return t;
}

// Sizes along one dimension from the start of the spatial chain (the reshaped dense layer
// dec[start]) to the output, with dec[start]'s size `first` and `specs` for the later layers.
std::vector<int64_t> forward_chain(int64_t first, const std::vector<LayerSpec>& specs, size_t start) {
  std::vector<int64_t> sizes{first};
  for (size_t j = start + 1; j < specs.size(); ++j) sizes.push_back(spatial_out(sizes.back(), specs[j]));
  return sizes;
}

struct WalkBack {
  size_t culprit;  // the layer that cannot give `needed`, or the chain start
  int64_t needed;  // the size the culprit's output needs to be
};

// Walks back from the output: the size each layer's input needs for the output to be `target`,
// until a layer cannot give what is needed from any input (or the chain start is reached).
WalkBack walk_back(const std::vector<LayerSpec>& specs, const std::vector<int64_t>& actual, size_t start,
                   int64_t target) {
  int64_t needed = target;
  for (size_t j = specs.size() - 1; j > start; --j) {
    const LayerSpec& s = specs[j];
    const int64_t in = actual[j - start - 1];
    std::optional<int64_t> need_in;
    if (s.kind == LayerKind::ConvTranspose2d) {
      const int64_t num = needed - s.kernel + 2 * int64_t(s.padding) - s.output_padding;
      if (num >= 0 && num % s.stride == 0) need_in = num / s.stride + 1;
    } else {  // every input in lo..hi gives `needed`; keep the actual one if it does
      const int64_t lo = (needed - 1) * s.stride + s.kernel - 2 * int64_t(s.padding), hi = lo + s.stride - 1;
      if (hi >= 1) need_in = (in >= lo && in <= hi) ? in : std::max<int64_t>(lo, 1);
    }
    if (!need_in || *need_in > kMaxElements) return {j, needed};
    needed = *need_in;
  }
  return {start, needed};
}

// Names where one spatial dimension goes wrong on the way to the input's size and suggests
// one change (an output_padding, a padding, or the dense layer's shape) that gives exactly
// the input's height and width, checked on the whole chain; the culprit's own changes first.
std::string diagnose_spatial(const std::vector<DerivedLayer>& dec, size_t start, bool height, const Shape& input) {
  std::vector<LayerSpec> specs;
  for (const DerivedLayer& l : dec) specs.push_back(l.spec);
  const std::vector<int64_t> actual = forward_chain(dim_of(dec[start].out, height), specs, start);
  const std::vector<int64_t> other = forward_chain(dim_of(dec[start].out, !height), specs, start);
  const bool square = input.h == input.w && actual == other;
  std::string msg = " (" + std::string(square ? "spatial size" : (height ? "height" : "width")) + " " +
                    chain_text(actual) + " through decoder layers " + str(int64_t(start)) + ".." +
                    str(int64_t(dec.size() - 1)) + ")";
  const WalkBack back = walk_back(specs, actual, start, dim_of(input, height));
  const size_t culprit = back.culprit;
  const int64_t got = actual[culprit - start];
  if (culprit == start)
    msg += "; decoder layer " + str(int64_t(start)) + " (" + describe(specs[start]) + ") gives " + str(got) +
           " where " + str(back.needed) + " is needed";
  else
    msg += "; " + dec[culprit].label + " gives " + str(got) + " from " + str(actual[culprit - start - 1]) +
           " where " + str(back.needed) + " is needed";

  // Does this chain give the input's height and width? Then say so with its sizes.
  auto fits = [&](const std::vector<LayerSpec>& f, size_t changed, const std::string& change) {
    const Shape& first = *f[start].reshape;
    const std::vector<int64_t> h = forward_chain(first.h, f, start), w = forward_chain(first.w, f, start);
    bool ok = h.back() == input.h && w.back() == input.w;
    for (size_t k = 0; k < h.size() && ok; ++k) ok = h[k] >= 1 && w[k] >= 1;
    if (ok)
      msg += (changed == culprit ? ": " : " (with the layers after it as they are); instead, ") + change +
             " gives " + chain_text(height ? h : w);
    return ok;
  };
  auto try_dense_shape = [&] {
    Shape first = *specs[start].reshape;
    const WalkBack bh = walk_back(specs, forward_chain(first.h, specs, start), start, input.h);
    const WalkBack bw = walk_back(specs, forward_chain(first.w, specs, start), start, input.w);
    if (bh.culprit != start || bw.culprit != start) return false;
    first.h = bh.needed;
    first.w = bw.needed;
    std::vector<LayerSpec> f = specs;
    f[start] = dense_to(first, specs[start].activation);
    return fits(f, start, "shape " + first.str() + " on decoder layer " + str(int64_t(start)) + " (" + to_string(f[start]) + ")");
  };
  auto try_layer = [&](size_t j) {
    const LayerSpec& c = specs[j];
    std::vector<LayerSpec> f = specs;
    if (c.kind == LayerKind::ConvTranspose2d)
      for (int op = 0; op < c.stride && op <= 64; ++op) {
        if (op == c.output_padding) continue;
        f[j].output_padding = op;
        if (fits(f, j, "output_padding " + str(op) + " on decoder layer " + str(int64_t(j)))) return true;
      }
    f[j].output_padding = c.output_padding;
    for (int p = 0; p <= c.kernel && p <= 64; ++p) {
      if (p == c.padding) continue;
      f[j].padding = p;
      if (fits(f, j, "padding " + str(p) + " on decoder layer " + str(int64_t(j)))) return true;
    }
    return false;
  };
  bool found = culprit == start ? try_dense_shape() : try_layer(culprit);
  for (size_t j = dec.size() - 1; j > start && !found; --j)
    if (j != culprit) found = try_layer(j);
  if (!found && culprit != start) found = try_dense_shape();
  if (!found)
    msg += ": no single output_padding, padding or dense shape change fits; change the kernels or strides";
  return msg;
}

// ---- text parsing ---------------------------------------------------------------------

class LayerParser {
 public:
  LayerParser(const std::string& text, const std::string& option) : text_(text), option_(option) {}

  std::vector<LayerSpec> parse() {
    if (text_.empty()) fail(0, "empty layer list, expected e.g. 'dense400:relu'");
    std::vector<LayerSpec> out;
    while (true) {
      out.push_back(layer());
      if (pos_ == text_.size()) return out;
      if (text_[pos_] != ',') fail(pos_, "expected ',' and the next layer, or the end of the list");
      ++pos_;
      if (pos_ == text_.size()) fail(pos_, "expected a layer after ','");
    }
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    std::string token = at >= text_.size() ? "" : text_.substr(at, text_.find(',', at) - at);
    if (token.empty() && at < text_.size()) token = text_.substr(at, 1);
    throw Error(option_ + ": bad layer list '" + text_ + "' at position " + str(int64_t(at)) +
                (at >= text_.size() ? " (the end)" : " ('" + token + "')") + ": " + what);
  }

  bool eat(const char* word) {
    const std::string w(word);
    if (text_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }

  int64_t number(const std::string& what) {
    const size_t at = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ == at) fail(at, "expected " + what);
    if (text_[at] == '0' && pos_ - at > 1) fail(at, "leading zero in " + what);
    if (pos_ - at > 8) fail(at, what + " is out of range 0.." + str(kMaxDim));
    const int64_t v = std::stoll(text_.substr(at, pos_ - at));
    if (v > kMaxDim) fail(at, what + " " + str(v) + " is out of range 0.." + str(kMaxDim));
    return v;
  }

  void expect(char c, const std::string& what) {
    if (pos_ >= text_.size() || text_[pos_] != c) fail(pos_, "expected '" + std::string(1, c) + "' and " + what);
    ++pos_;
  }

  LayerSpec layer() {
    LayerSpec s;
    const size_t at = pos_;
    if (eat("dense")) {
      s.kind = LayerKind::Dense;
      const size_t shape_at = pos_;
      const int64_t n = number("the output width after 'dense'");
      if (pos_ < text_.size() && text_[pos_] == 'x') {
        ++pos_;
        Shape shape{n, 0, 0};
        shape.h = number("the height after 'x'");
        expect('x', "the width");
        shape.w = number("the width after 'x'");
        if (shape.numel() > kMaxDim)
          fail(shape_at, "shape " + shape.str() + " has " + str(shape.numel()) + " elements, more than " +
                             str(kMaxDim));
        s.reshape = shape;
        s.out = int(shape.numel());
      } else {
        s.out = int(n);
      }
    } else if (eat("convT") || eat("conv")) {
      s.kind = text_.compare(at, 5, "convT") == 0 ? LayerKind::ConvTranspose2d : LayerKind::Conv2d;
      s.out = int(number("the output channels after '" + text_.substr(at, pos_ - at) + "'"));
      expect('k', "the kernel size");
      s.kernel = int(number("the kernel size after 'k'"));
      expect('s', "the stride");
      s.stride = int(number("the stride after 's'"));
      expect('p', "the padding");
      s.padding = int(number("the padding after 'p'"));
      if (s.kind == LayerKind::ConvTranspose2d && pos_ < text_.size() && text_[pos_] == 'o') {
        const size_t o_at = pos_++;
        s.output_padding = int(number("the output padding after 'o'"));
        if (s.output_padding == 0) fail(o_at, "output_padding 0 is the default: leave out 'o0'");
      }
    } else {
      fail(at, "expected a layer: dense<N>, dense<C>x<H>x<W>, conv<N>k<K>s<S>p<P> or convT<N>k<K>s<S>p<P>[o<O>]");
    }
    if (eat("+bn")) s.batch_norm = true;
    if (pos_ >= text_.size() || text_[pos_] != ':')
      fail(pos_, std::string(s.batch_norm || !is_conv(s.kind) ? "expected ':'" : "expected '+bn' or ':'") +
                     " and an activation (" + kActivationChoices + ")");
    const size_t act_at = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != ',') ++pos_;
    const std::string act = text_.substr(act_at, pos_ - act_at);
    if (const std::string why = parse_activation_token(act, s); !why.empty()) fail(act_at, why);
    return s;
  }

  const std::string& text_;
  const std::string& option_;
  size_t pos_ = 0;
};

// ---- JSON -----------------------------------------------------------------------------

[[noreturn]] void json_fail(const std::string& path, const std::string& what) {
  throw Error("model JSON: " + path + ": " + what);
}

void check_keys(const nlohmann::json& obj, const std::string& path, const std::vector<std::string>& allowed) {
  if (!obj.is_object()) json_fail(path, "expected an object, got " + obj.dump());
  for (const auto& item : obj.items()) {
    bool ok = false;
    for (const std::string& a : allowed) ok = ok || item.key() == a;
    if (!ok) {
      std::string names;
      for (const std::string& a : allowed) names += (names.empty() ? "" : ", ") + a;
      json_fail(path, "unknown key '" + item.key() + "' (expected " + names + ")");
    }
  }
}

const nlohmann::json& need(const nlohmann::json& obj, const std::string& key, const std::string& path) {
  if (!obj.contains(key)) json_fail(path, "missing key '" + key + "'");
  return obj.at(key);
}

int64_t json_int(const nlohmann::json& v, const std::string& path, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) json_fail(path, "expected an integer, got " + v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(hi) : (v.get<int64_t>() < lo || v.get<int64_t>() > hi))
    json_fail(path, v.dump() + " is out of range " + str(lo) + ".." + str(hi));
  return v.get<int64_t>();
}

Shape json_shape(const nlohmann::json& v, const std::string& path) {
  if (!v.is_array() || v.size() != 3) json_fail(path, "expected [C, H, W], got " + v.dump());
  return {json_int(v[0], path + "[0]", 1, kMaxDim), json_int(v[1], path + "[1]", 1, kMaxDim),
          json_int(v[2], path + "[2]", 1, kMaxDim)};
}

// A layer's keys, with "negative_slope" where its activation is leaky_relu (and only there).
std::vector<std::string> with_slope(const nlohmann::json& j, std::vector<std::string> keys) {
  if (j.contains("activation") && j.at("activation") == "leaky_relu") keys.push_back("negative_slope");
  return keys;
}

LayerSpec layer_from_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) json_fail(path, "expected an object, got " + j.dump());
  const nlohmann::json& type = need(j, "type", path);
  if (!type.is_string()) json_fail(path + ".type", "expected a string, got " + type.dump());
  LayerSpec s;
  const std::string t = type.get<std::string>();
  if (t == "dense") {
    check_keys(j, path, with_slope(j, {"type", "out_features", "shape", "activation"}));
    s.kind = LayerKind::Dense;
    s.out = int(json_int(need(j, "out_features", path), path + ".out_features", 1, kMaxDim));
    if (j.contains("shape")) {
      s.reshape = json_shape(j.at("shape"), path + ".shape");
      if (s.reshape->numel() != s.out)
        json_fail(path + ".shape", s.reshape->str() + " has " + str(s.reshape->numel()) +
                                       " elements but out_features is " + str(s.out));
    }
  } else if (t == "conv2d" || t == "conv_transpose2d") {
    s.kind = t == "conv2d" ? LayerKind::Conv2d : LayerKind::ConvTranspose2d;
    std::vector<std::string> keys =
        with_slope(j, {"type", "out_channels", "kernel", "stride", "padding", "batch_norm", "activation"});
    if (s.kind == LayerKind::ConvTranspose2d) keys.push_back("output_padding");
    check_keys(j, path, keys);
    s.out = int(json_int(need(j, "out_channels", path), path + ".out_channels", 1, kMaxDim));
    s.kernel = int(json_int(need(j, "kernel", path), path + ".kernel", 1, kMaxDim));
    s.stride = int(json_int(need(j, "stride", path), path + ".stride", 1, kMaxDim));
    s.padding = int(json_int(need(j, "padding", path), path + ".padding", 0, kMaxDim));
    if (j.contains("output_padding"))
      s.output_padding = int(json_int(j.at("output_padding"), path + ".output_padding", 0, kMaxDim));
    if (j.contains("batch_norm")) {
      if (!j.at("batch_norm").is_boolean())
        json_fail(path + ".batch_norm", "expected true or false, got " + j.at("batch_norm").dump());
      s.batch_norm = j.at("batch_norm").get<bool>();
    }
  } else {
    json_fail(path + ".type", "unknown layer type " + type.dump() + ", expected dense|conv2d|conv_transpose2d");
  }
  const nlohmann::json& act = need(j, "activation", path);
  if (!act.is_string()) json_fail(path + ".activation", "expected a string, got " + act.dump());
  bool known = false;
  for (const auto& [name, value] : kLayerActivations)
    if (act.get<std::string>() == name) {
      s.activation = value;
      known = true;
    }
  if (!known)
    json_fail(path + ".activation", "unknown activation " + act.dump() + ", expected " +
                                        "relu|tanh|none|leaky_relu|elu|gelu|gelu_tanh|silu");
  if (s.activation == LayerActivation::LeakyRelu) {
    const nlohmann::json& slope = need(j, "negative_slope", path);
    if (!slope.is_number() || !(slope.get<double>() > 0 && slope.get<double>() < 1))
      json_fail(path + ".negative_slope", "expected a number in (0, 1), got " + slope.dump());
    s.negative_slope = slope.get<double>();
  }
  return s;
}

std::vector<LayerSpec> stack_from_json(const nlohmann::json& j, const std::string& key) {
  if (!j.is_array()) json_fail(key, "expected an array of layers, got " + j.dump());
  std::vector<LayerSpec> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(layer_from_json(j[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

// ---- small types ------------------------------------------------------------------------

LayerActivation to_layer_activation(Activation a) {
  return a == Activation::Relu ? LayerActivation::Relu : LayerActivation::Tanh;
}

std::string to_string(LayerActivation a) {
  for (const auto& [name, value] : kLayerActivations)
    if (value == a) return name;
  return "?";
}

LayerActivation parse_layer_activation(const std::string& s) {
  for (const auto& [name, value] : kLayerActivations)
    if (s == name) return value;
  throw Error("unknown activation '" + s + "', expected " + kActivationChoices);
}

bool derivative_needs_input(LayerActivation a) {
  return a == LayerActivation::Gelu || a == LayerActivation::GeluTanh || a == LayerActivation::Silu;
}

std::string activation_text(const LayerSpec& l) {
  if (l.activation == LayerActivation::LeakyRelu && l.negative_slope != kLeakyReluDefaultSlope)
    return "leaky_relu" + shortest(l.negative_slope);
  return to_string(l.activation);
}

std::string to_string(LayerKind k) {
  switch (k) {
    case LayerKind::Dense: return "dense";
    case LayerKind::Conv2d: return "conv2d";
    case LayerKind::ConvTranspose2d: return "conv_transpose2d";
  }
  return "?";
}

std::string Shape::str() const { return vae::str(c) + "x" + vae::str(h) + "x" + vae::str(w); }

Shape parse_shape(const std::string& text, const std::string& option) {
  Shape s;
  int64_t* dims[3] = {&s.c, &s.h, &s.w};
  size_t pos = 0;
  for (int d = 0; d < 3; ++d) {
    const size_t at = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - at < 9) ++pos;
    const bool ok = pos > at && text[at] != '0' && (d == 2 ? pos == text.size() : pos < text.size() && text[pos] == 'x');
    if (!ok) throw Error(option + ": '" + text + "' is not a shape CxHxW of positive integers, e.g. 1x28x28");
    *dims[d] = std::stoll(text.substr(at, pos - at));
    if (*dims[d] > kMaxDim)
      throw Error(option + ": '" + text + "': " + str(*dims[d]) + " is out of range 1.." + str(kMaxDim));
    ++pos;
  }
  return s;
}

bool LayerSpec::operator==(const LayerSpec& o) const {
  return kind == o.kind && out == o.out && reshape == o.reshape && kernel == o.kernel && stride == o.stride &&
         padding == o.padding && output_padding == o.output_padding && batch_norm == o.batch_norm &&
         activation == o.activation && negative_slope == o.negative_slope;
}

bool ModelSpec::operator==(const ModelSpec& o) const {
  return input == o.input && encoder == o.encoder && latent == o.latent && decoder == o.decoder;
}

LayerSpec dense(int out_features, LayerActivation act) {
  LayerSpec s;
  s.kind = LayerKind::Dense;
  s.out = out_features;
  s.activation = act;
  if (act == LayerActivation::LeakyRelu) s.negative_slope = kLeakyReluDefaultSlope;
  return s;
}

LayerSpec dense_to(Shape shape, LayerActivation act) {
  LayerSpec s = dense(int(shape.numel()), act);
  s.reshape = shape;
  return s;
}

LayerSpec conv2d(int out_channels, int kernel, int stride, int padding, LayerActivation act, bool batch_norm) {
  LayerSpec s;
  s.kind = LayerKind::Conv2d;
  s.out = out_channels;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  s.batch_norm = batch_norm;
  s.activation = act;
  if (act == LayerActivation::LeakyRelu) s.negative_slope = kLeakyReluDefaultSlope;
  return s;
}

LayerSpec conv_transpose2d(int out_channels, int kernel, int stride, int padding, int output_padding,
                           LayerActivation act, bool batch_norm) {
  LayerSpec s = conv2d(out_channels, kernel, stride, padding, act, batch_norm);
  s.kind = LayerKind::ConvTranspose2d;
  s.output_padding = output_padding;
  return s;
}

std::vector<LayerSpec> parse_layers(const std::string& text, const std::string& option) {
  return LayerParser(text, option).parse();
}

std::string to_string(const LayerSpec& l) {
  std::string t;
  if (l.kind == LayerKind::Dense) {
    t = "dense" + (l.reshape ? l.reshape->str() : str(l.out));
  } else {
    t = (l.kind == LayerKind::Conv2d ? "conv" : "convT") + str(l.out) + "k" + str(l.kernel) + "s" + str(l.stride) +
        "p" + str(l.padding);
    if (l.output_padding != 0) t += "o" + str(l.output_padding);
  }
  if (l.batch_norm) t += "+bn";
  return t + ":" + activation_text(l);
}

std::string to_string(const std::vector<LayerSpec>& layers) {
  std::string t;
  for (size_t i = 0; i < layers.size(); ++i) t += (i ? "," : "") + to_string(layers[i]);
  return t;
}

std::string describe(const LayerSpec& l) {
  if (l.kind == LayerKind::Dense) return "dense " + (l.reshape ? l.reshape->str() : str(l.out));
  std::string t = to_string(l.kind) + " " + str(l.out) + " k" + str(l.kernel) + " s" + str(l.stride) + " p" +
                  str(l.padding);
  if (l.output_padding != 0) t += " o" + str(l.output_padding);
  return t;
}

std::string summary(const ModelSpec& spec) {
  return spec.input.str() + " | " + to_string(spec.encoder) + " | z" + str(spec.latent) + " | " +
         to_string(spec.decoder);
}

// ---- JSON -------------------------------------------------------------------------------

nlohmann::json to_json(const LayerSpec& l) {
  nlohmann::json j{{"type", to_string(l.kind)}, {"activation", to_string(l.activation)}};
  if (l.activation == LayerActivation::LeakyRelu) j["negative_slope"] = l.negative_slope;
  if (l.kind == LayerKind::Dense) {
    j["out_features"] = l.out;
    if (l.reshape) j["shape"] = {l.reshape->c, l.reshape->h, l.reshape->w};
  } else {
    j["out_channels"] = l.out;
    j["kernel"] = l.kernel;
    j["stride"] = l.stride;
    j["padding"] = l.padding;
    j["batch_norm"] = l.batch_norm;
    if (l.kind == LayerKind::ConvTranspose2d) j["output_padding"] = l.output_padding;
  }
  return j;
}

nlohmann::json to_json(const ModelSpec& spec) {
  nlohmann::json enc = nlohmann::json::array(), dec = nlohmann::json::array();
  for (const LayerSpec& l : spec.encoder) enc.push_back(to_json(l));
  for (const LayerSpec& l : spec.decoder) dec.push_back(to_json(l));
  return {{"input", {spec.input.c, spec.input.h, spec.input.w}},
          {"latent", spec.latent},
          {"encoder", enc},
          {"decoder", dec}};
}

ModelSpec spec_from_json(const nlohmann::json& j) {
  check_keys(j, "(top level)", {"input", "latent", "encoder", "decoder"});
  ModelSpec s;
  s.input = json_shape(need(j, "input", "(top level)"), "input");
  s.latent = int(json_int(need(j, "latent", "(top level)"), "latent", 1, kMaxDim));
  s.encoder = stack_from_json(need(j, "encoder", "(top level)"), "encoder");
  s.decoder = stack_from_json(need(j, "decoder", "(top level)"), "decoder");
  try {
    ModelLayers check(s);
  } catch (const Error& e) {
    throw Error(std::string("model JSON: ") + e.what());
  }
  return s;
}

// ---- presets ----------------------------------------------------------------------------

ModelSpec mlp_spec(const VaeConfig& config) {
  // Today's MLP VAE exactly (README "The model"): every VaeConfig option that shapes the
  // network maps onto a layer: --hidden, --decoder-hidden (decoder_hidden(): the override or
  // the encoder mirrored), --latent, --activation on every hidden layer; the output layer is a
  // linear dense D. The input shape only labels the D pixels: 1 x sqrt(D) x sqrt(D) for a
  // square D (MNIST: 1x28x28), otherwise 1 x 1 x D.
  config.validate();
  ModelSpec s;
  const int64_t d = config.input_dim;
  int64_t side = int64_t(std::llround(std::sqrt(double(d))));
  s.input = side * side == d ? Shape{1, side, side} : Shape{1, 1, d};
  const LayerActivation act = to_layer_activation(config.activation);
  for (int w : config.encoder_hidden) s.encoder.push_back(dense(w, act));
  s.latent = config.latent;
  for (int w : config.decoder_hidden()) s.decoder.push_back(dense(w, act));
  s.decoder.push_back(dense(config.input_dim, LayerActivation::None));
  return s;
}

ModelSpec model_spec(const VaeConfig& config) { return config.layers ? *config.layers : mlp_spec(config); }

ConvGeometry conv_geometry(const DerivedLayer& l) {
  const int c = int(l.in.c), h = int(l.in.h), w = int(l.in.w);
  const LayerSpec& s = l.spec;
  if (s.kind == LayerKind::Dense) throw Error(l.label + ": a dense layer has no conv geometry");
  return s.kind == LayerKind::ConvTranspose2d
             ? ConvGeometry::conv_transpose2d(c, s.out, h, w, s.kernel, s.stride, s.padding, s.output_padding)
             : ConvGeometry::conv2d(c, s.out, h, w, s.kernel, s.stride, s.padding);
}

ModelSpec conv_mnist_spec(int latent) {
  // The seed's ConvVAE for 1x28x28 MNIST.
  // Encoder: Conv2d(1,32,4,2,1), Conv2d(32,64,4,2,1), Conv2d(64,128,4,2,1), each with ReLU, as
  // in the seed: 28 -> 14 -> 7 -> 3 (floor((7 + 2 - 4) / 2) + 1 = 3 drops a row); the heads
  // fc_mu / fc_logvar take the flattened 128*3*3 = 1152.
  // Decoder: Linear(Z, 1152) viewed as 128x3x3 with no activation (as in the seed), then
  // ConvTranspose2d 128->64 and 64->32 (k4 s2 p1, ReLU after each) and 32->1 (k4 s2 p1), no
  // activation (the logits). As printed, the seed used output_padding 0 throughout, which gives
  // 3 -> 6 -> 12 -> 24, not 28 (ModelLayers refuses it and says so). The encoder lost a row
  // going 7 -> 3, so the decoder adds it back where it mirrors that step: output_padding 1 on
  // the first transposed conv gives (3-1)*2 - 2 + 4 + 1 = 7, and the rest mirror the encoder
  // exactly (7 -> 14 -> 28). output_padding is PyTorch's parameter for exactly this (it picks
  // which of the input sizes a strided conv maps to the same output the transpose restores).
  const auto relu = LayerActivation::Relu, none = LayerActivation::None;
  ModelSpec s;
  s.input = {1, 28, 28};
  s.encoder = {conv2d(32, 4, 2, 1, relu), conv2d(64, 4, 2, 1, relu), conv2d(128, 4, 2, 1, relu)};
  s.latent = latent;
  s.decoder = {dense_to({128, 3, 3}, none), conv_transpose2d(64, 4, 2, 1, 1, relu),
               conv_transpose2d(32, 4, 2, 1, 0, relu), conv_transpose2d(1, 4, 2, 1, 0, none)};
  return s;
}

ModelSpec conv_celeba64_spec(int latent) {
  // The seed's CelebAVAE for 3x64x64 CelebA crops, latent 256.
  // Encoder: Conv2d 3->32->64->128->256, each k4 s2 p1 with BatchNorm2d and ReLU, as in the
  // seed: 64 -> 32 -> 16 -> 8 -> 4 (every step halves exactly, so no output_padding is
  // needed anywhere); the heads take 256*4*4 = 4096.
  // Decoder: Linear(Z, 4096) viewed as 256x4x4 with no activation (as in the seed), then
  // ConvTranspose2d 256->128->64->32, each k4 s2 p1 with BatchNorm2d and ReLU: 4 -> 8 -> 16 -> 32,
  // and ConvTranspose2d 32->3 k4 s2 p1 without batch norm or activation (the output layer):
  // 32 -> 64.
  const auto relu = LayerActivation::Relu, none = LayerActivation::None;
  ModelSpec s;
  s.input = {3, 64, 64};
  for (int c : {32, 64, 128, 256}) s.encoder.push_back(conv2d(c, 4, 2, 1, relu, true));
  s.latent = latent;
  s.decoder.push_back(dense_to({256, 4, 4}, none));
  for (int c : {128, 64, 32}) s.decoder.push_back(conv_transpose2d(c, 4, 2, 1, 0, relu, true));
  s.decoder.push_back(conv_transpose2d(3, 4, 2, 1, 0, none));
  return s;
}

std::vector<std::string> preset_names() { return {"mlp", "conv-mnist", "conv-celeba64"}; }

ModelSpec preset_spec(const std::string& name, std::optional<int> latent) {
  if (name == "mlp") {
    VaeConfig c;
    if (latent) c.latent = *latent;
    return mlp_spec(c);
  }
  if (name == "conv-mnist") return conv_mnist_spec(latent.value_or(20));
  if (name == "conv-celeba64") return conv_celeba64_spec(latent.value_or(256));
  std::string names;
  for (const std::string& n : preset_names()) names += (names.empty() ? "" : "|") + n;
  throw Error("unknown model preset '" + name + "', expected " + names);
}

// ---- derivation -------------------------------------------------------------------------

const BufferView& BufferLayout::view(const std::string& name) const {
  for (const BufferView& v : views_)
    if (v.name == name) return v;
  throw Error("no buffer named '" + name + "'" + (views_.empty() ? " (the model has no batch norm)" : ""));
}

std::vector<double> BufferLayout::initial_values() const {
  std::vector<double> values(total_);
  for (const BufferView& v : views_)
    for (size_t i = 0; i < v.size; ++i) values[v.offset + i] = v.initial;
  return values;
}

size_t BufferLayout::add(const std::string& name, std::vector<int64_t> shape, double initial, BufferKind kind) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  views_.push_back({name, std::move(shape), total_, n, initial, kind});
  total_ += n;
  return views_.size() - 1;
}

void ModelLayers::add_macs(const DerivedLayer& l) {
  if (l.macs > kMaxMacs - macs_)
    throw Error(l.label + ": the multiply-adds would exceed " + str(kMaxMacs) + "; the model is far too large");
  macs_ += l.macs;
}

void ModelLayers::add_params(DerivedLayer& l) {
  const LayerSpec& s = l.spec;
  const int64_t in_c = s.kind == LayerKind::Dense ? l.in.numel() : l.in.c;
  std::vector<int64_t> wshape;
  if (s.kind == LayerKind::Dense) wshape = {s.out, in_c};
  else if (s.kind == LayerKind::Conv2d) wshape = {s.out, in_c, s.kernel, s.kernel};
  else wshape = {in_c, s.out, s.kernel, s.kernel};
  int64_t wsize = 1;
  for (int64_t d : wshape) wsize = mul_limited(wsize, d, kMaxElements, l.label, "the weight");
  // torch.nn.init._calculate_fan_in_and_fan_out: fan_in = size(1) * receptive field,
  // fan_out = size(0) * receptive field, for every weight layout alike.
  const int64_t field = s.kind == LayerKind::Dense ? 1 : int64_t(s.kernel) * s.kernel;
  l.fan_in = wshape[1] * field;
  l.fan_out = wshape[0] * field;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, size_t size) {
    views_.push_back({l.prefix + name, std::move(shape), total_, size});
    total_ += size;
    return views_.size() - 1;
  };
  l.weight = add(".weight", wshape, size_t(wsize));
  l.bias = add(".bias", {s.out}, size_t(s.out));
  if (s.batch_norm) {
    l.bn_weight = add(".bn.weight", {s.out}, size_t(s.out));
    l.bn_bias = add(".bn.bias", {s.out}, size_t(s.out));
    DerivedLayer::BatchNormBuffers b;
    b.mean = buffers_.add(l.prefix + ".bn.running_mean", {s.out}, 0.0, BufferKind::RunningMean);
    b.var = buffers_.add(l.prefix + ".bn.running_var", {s.out}, 1.0, BufferKind::RunningVar);
    b.count = buffers_.add(l.prefix + ".bn.num_batches_tracked", {}, 0.0, BufferKind::BatchCount);
    l.bn_buffers = b;
  }
}

void ModelLayers::derive_stack(bool encoder) {
  const std::vector<LayerSpec>& stack = encoder ? spec_.encoder : spec_.decoder;
  const std::string name = stack_name(encoder);
  if (stack.empty())
    throw Error(name + ": at least one layer is required" +
                (encoder ? " (the heads mu and log sigma^2 follow it)" : " (the last one is the output layer)"));
  Shape flow = encoder ? spec_.input : Shape{spec_.latent, 1, 1};
  bool flat = !encoder;
  std::string from = encoder ? "the input " + spec_.input.str() : "z (a vector of " + str(spec_.latent) + ")";
  for (size_t i = 0; i < stack.size(); ++i) {
    const LayerSpec& s = stack[i];
    const bool output = !encoder && i + 1 == stack.size();
    DerivedLayer l;
    l.role = encoder ? LayerRole::Encoder : (output ? LayerRole::Output : LayerRole::Decoder);
    l.index = int(i);
    l.prefix = (encoder ? "enc." : "dec.") + (output ? std::string("out") : std::to_string(i));
    l.label = name + " layer " + std::to_string(i) + " (" + describe(s) + ")";
    l.spec = s;
    l.in = flow;
    const std::string& label = l.label;
    const char* out_key = s.kind == LayerKind::Dense ? "out_features" : "out_channels";
    if (s.out < 1 || s.out > kMaxDim)
      throw Error(label + ": " + out_key + " " + str(s.out) + " is out of range 1.." + str(kMaxDim));
    if (s.kind == LayerKind::Dense) {
      if (s.kernel != 0 || s.stride != 0 || s.padding != 0 || s.output_padding != 0)
        throw Error(label + ": kernel, stride, padding and output_padding apply to conv layers only; leave them 0");
      if (s.batch_norm)
        throw Error(label + ": batch norm (BatchNorm2d) applies to conv layers only: remove '+bn', or use a conv "
                            "layer");
      if (s.reshape) {
        const Shape& r = *s.reshape;
        if (r.c < 1 || r.h < 1 || r.w < 1 || r.c > kMaxDim || r.h > kMaxDim || r.w > kMaxDim)
          throw Error(label + ": shape " + r.str() + " must have every size in 1.." + str(kMaxDim));
        if (r.numel() != s.out)
          throw Error(label + ": shape " + r.str() + " has " + str(r.numel()) + " elements, not out_features " +
                      str(s.out));
      }
      l.out = s.reshape ? *s.reshape : Shape{s.out, 1, 1};
      l.out_flat = !s.reshape;
      l.macs = mul_limited(flow.numel(), s.out, kMaxMacs, label, "the multiply-adds");
    } else {
      if (s.reshape) throw Error(label + ": a shape (reshape) applies to dense layers only");
      if (s.kernel < 1 || s.kernel > kMaxDim)
        throw Error(label + ": kernel " + str(s.kernel) + " must be in 1.." + str(kMaxDim));
      if (s.stride < 1 || s.stride > kMaxDim)
        throw Error(label + ": stride " + str(s.stride) + " must be in 1.." + str(kMaxDim));
      if (s.padding < 0 || s.padding > kMaxDim)
        throw Error(label + ": padding " + str(s.padding) + " must be in 0.." + str(kMaxDim));
      if (s.kind == LayerKind::Conv2d && s.output_padding != 0)
        throw Error(label + ": output_padding applies to conv_transpose2d only");
      if (s.kind == LayerKind::ConvTranspose2d && (s.output_padding < 0 || s.output_padding >= s.stride))
        throw Error(label + ": output_padding " + str(s.output_padding) + " must be smaller than the stride " +
                    str(s.stride) + " (PyTorch refuses it): use 0.." + str(s.stride - 1) +
                    ", or a larger stride, kernel or less padding");
      if (flat)
        throw Error(label + ": a conv layer needs a CxHxW input, but " + from +
                    " is flat: " +
                    (i == 0 && !encoder ? "start the decoder with a dense layer to a shape, e.g. dense128x3x3"
                                        : "give that dense layer a shape, dense<C>x<H>x<W> with C*H*W = " +
                                              str(flow.numel())));
      Shape out{s.out, spatial_out(flow.h, s), spatial_out(flow.w, s)};
      if (out.h < 1 || out.w < 1) {
        const bool h_bad = out.h < 1;
        const int64_t in = h_bad ? flow.h : flow.w, got = h_bad ? out.h : out.w;
        std::string why;
        if (s.kind == LayerKind::Conv2d)
          why = "floor((" + str(in) + " + 2*" + str(s.padding) + " - " + str(s.kernel) + ") / " + str(s.stride) +
                ") + 1 = " + str(got) + ": the kernel " + str(s.kernel) + " is larger than the padded input " +
                str(in + 2 * int64_t(s.padding)) + "; use a smaller kernel, more padding or fewer downsampling layers";
        else
          why = "(" + str(in) + " - 1)*" + str(s.stride) + " - 2*" + str(s.padding) + " + " + str(s.kernel) + " + " +
                str(s.output_padding) + " = " + str(got) + ": the padding is too large for the kernel; use less padding";
        throw Error(label + ": input " + flow.str() + " gives an output " + (h_bad ? "height " : "width ") + str(got) +
                    " < 1 (" + why + ")");
      }
      if (out.h > kMaxDim || out.w > kMaxDim)
        throw Error(label + ": input " + flow.str() + " gives " + out.str() + ", larger than " + str(kMaxDim) +
                    " in height or width");
      mul_limited(out.c * out.h, out.w, kMaxElements, label, "the output");
      l.out = out;
      l.out_flat = false;
      const int64_t per_output = mul_limited(flow.c, int64_t(s.kernel) * s.kernel, kMaxElements, label, "the weight");
      // Conv2d: each output element is a dot over Cin*k*k inputs: Cout*Ho*Wo*Cin*k^2.
      // ConvTranspose2d: each input element scatters into Cout*k*k outputs: Cin*H*W*Cout*k^2.
      l.macs = s.kind == LayerKind::Conv2d
                   ? mul_limited(out.numel(), per_output, kMaxMacs, label, "the multiply-adds")
                   : mul_limited(flow.numel(), mul_limited(s.out, int64_t(s.kernel) * s.kernel, kMaxElements, label,
                                                           "the weight"),
                                 kMaxMacs, label, "the multiply-adds");
    }
    if (output) {
      if (s.activation != LayerActivation::None)
        throw Error(label + ": the output layer's activation must be none (its outputs are the logits, or the "
                            "Gaussian mean through a sigmoid, which the likelihood applies), got " +
                    to_string(s.activation) + ": end the decoder with ':none'");
      if (s.batch_norm) throw Error(label + ": the output layer takes no batch norm: remove '+bn'");
    }
    add_params(l);
    add_macs(l);
    flow = l.out;
    flat = l.out_flat;
    from = l.label;
    layers_.push_back(std::move(l));
  }
}

ModelLayers::ModelLayers(ModelSpec spec) : spec_(std::move(spec)) {
  const Shape& in = spec_.input;
  if (in.c < 1 || in.h < 1 || in.w < 1 || in.c > kMaxDim || in.h > kMaxDim || in.w > kMaxDim)
    throw Error("input shape " + in.str() + " must have every size in 1.." + str(kMaxDim));
  mul_limited(in.c * in.h, in.w, kMaxElements, "input shape " + in.str(), "the input");
  if (spec_.latent < 1 || spec_.latent > kMaxDim)
    throw Error("latent " + str(spec_.latent) + " is out of range 1.." + str(kMaxDim));
  derive_stack(true);
  const DerivedLayer enc_last = layers_.back();
  for (int head = 0; head < 2; ++head) {
    DerivedLayer l;
    l.role = LayerRole::Head;
    l.index = head;
    l.prefix = head == 0 ? "enc.mu" : "enc.logvar";
    l.spec = dense(spec_.latent, LayerActivation::None);
    l.label = std::string("encoder head ") + (head == 0 ? "mu" : "logvar") + " (" + describe(l.spec) + ")";
    l.in = enc_last.out;
    l.out = {spec_.latent, 1, 1};
    l.macs = mul_limited(l.in.numel(), spec_.latent, kMaxMacs, l.label, "the multiply-adds");
    add_params(l);
    add_macs(l);
    layers_.push_back(std::move(l));
  }
  const size_t dec_begin = layers_.size();
  derive_stack(false);

  // The output layer gives the input's shape (a flat dense output: its C*H*W features).
  const std::vector<DerivedLayer> dec(layers_.begin() + std::ptrdiff_t(dec_begin), layers_.end());
  const DerivedLayer& out = dec.back();
  if (out.out_flat) {
    if (out.out.c != in.numel())
      throw Error(out.label + ": the decoder's output is " + str(out.out.c) + " features but the input " + in.str() +
                  " has " + str(in.numel()) + ": end the decoder with dense" + str(in.numel()) + ":none");
    return;
  }
  if (out.out == in) return;
  std::string msg = out.label + ": the decoder's output is " + out.out.str() + " but the input is " + in.str();
  if (out.spec.kind == LayerKind::Dense) {
    throw Error(msg + ": end the decoder with dense" + in.str() + ":none (or dense" + str(in.numel()) + ":none)");
  }
  if (out.out.c != in.c) msg += "; set the output layer's out_channels to " + str(in.c);
  if (out.out.h != in.h || out.out.w != in.w) {
    size_t start = dec.size() - 1;
    while (dec[start].spec.kind != LayerKind::Dense) --start;  // the first decoder layer is never a conv
    const bool height = out.out.h != in.h;
    msg += diagnose_spatial(dec, start, height, in);
  }
  throw Error(msg);
}

const DerivedLayer& ModelLayers::layer(const std::string& prefix) const {
  for (const DerivedLayer& l : layers_)
    if (l.prefix == prefix) return l;
  throw Error("no layer named '" + prefix + "' (first is '" + layers_.front().prefix + "', last is '" +
              layers_.back().prefix + "')");
}

const ParamView& ModelLayers::view(const std::string& name) const {
  for (const ParamView& v : views_)
    if (v.name == name) return v;
  throw Error("no parameter named '" + name + "' (first is '" + views_.front().name + "', last is '" +
              views_.back().name + "')");
}

std::string ModelLayers::table() const {
  std::ostringstream t;
  for (const DerivedLayer& l : layers_) {
    size_t params = views_[l.weight].size + views_[l.bias].size;
    if (l.bn_weight) params += views_[*l.bn_weight].size + views_[*l.bn_bias].size;
    std::string what = describe(l.spec) + (l.spec.batch_norm ? " +bn" : "");
    t << l.prefix << std::string(12 - std::min<size_t>(11, l.prefix.size()), ' ') << what
      << std::string(34 - std::min<size_t>(33, what.size()), ' ') << activation_text(l.spec) << "  "
      << l.in.str() << " -> " << l.out.str() << "  params " << params << "  MACs " << l.macs << '\n';
  }
  t << "total: params " << total_ << ", MACs per image " << macs_ << ", buffers " << buffers_.total() << '\n';
  return t.str();
}

// ---- initialisation -------------------------------------------------------------------

std::vector<TensorInit> init_rules(const ModelLayers& model, InitScheme scheme) {
  // PyTorch's defaults (torch/nn/modules/linear.py and conv.py, reset_parameters):
  //   weight: kaiming_uniform_(w, a=sqrt(5)): gain = sqrt(2 / (1 + a^2)) = sqrt(2/6) = sqrt(1/3),
  //           std = gain / sqrt(fan_in), bound = sqrt(3) * std = sqrt(3) * sqrt(1/3) / sqrt(fan_in)
  //           = 1 / sqrt(fan_in);
  //   bias:   U(-1/sqrt(fan_in), +1/sqrt(fan_in)) with fan_in from _calculate_fan_in_and_fan_out(weight);
  //   fan_in = weight.size(1) * k * k. ConvTranspose2d's weight is [in, out, k, k] and
  //   _ConvNd.reset_parameters is shared, so its fan_in is out_channels * k * k (checked
  //   against torch 2.11: ConvTranspose2d(128, 64, 4) gives fan_in 1024, max |w| = 0.03125).
  //   BatchNorm2d: weight 1, bias 0.
  // Xavier: xavier_uniform_ with gain 1: bound = sqrt(3) * sqrt(2 / (fan_in + fan_out))
  //   = sqrt(6 / (fan_in + fan_out)), fan_out = weight.size(0) * k * k; biases 0, batch norm 1/0.
  std::vector<TensorInit> rules(model.views().size());
  for (const DerivedLayer& l : model.layers()) {
    const double fan_in = double(l.fan_in), fan_out = double(l.fan_out);
    if (scheme == InitScheme::Torch) {
      rules[l.weight] = {true, 1.0 / std::sqrt(fan_in)};
      rules[l.bias] = {true, 1.0 / std::sqrt(fan_in)};
    } else {
      rules[l.weight] = {true, std::sqrt(6.0 / (fan_in + fan_out))};
      rules[l.bias] = {false, 0.0};
    }
    if (l.bn_weight) {
      rules[*l.bn_weight] = {false, 1.0};
      rules[*l.bn_bias] = {false, 0.0};
    }
  }
  return rules;
}

std::vector<double> init_params(const ModelLayers& model, InitScheme scheme, uint64_t seed) {
  const std::vector<TensorInit> rules = init_rules(model, scheme);
  const std::vector<ParamView>& views = model.views();
  std::vector<double> params(model.total());
  for (size_t t = 0; t < views.size(); ++t) {
    const ParamView& v = views[t];
    const TensorInit& r = rules[t];
    for (size_t i = 0; i < v.size; ++i) {
      if (!r.uniform) {
        params[v.offset + i] = r.value;
        continue;
      }
      const double u = counter_uniform(seed, kStreamParamsBase + t, i);
      params[v.offset + i] = r.value * (2.0 * u - 1.0);
    }
  }
  return params;
}

}  // namespace vae
