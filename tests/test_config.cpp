// VaeConfig parsing/validation and the flat parameter layout + deterministic init.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "model/config.h"
#include "model/noise.h"
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

TEST(Config, DefaultIsTheClassicMnistVae) {
  const VaeConfig c;
  c.validate();
  EXPECT_EQ(c.summary(), "784-[400]-20-[400] relu bernoulli beta=1 K=1");
}

TEST(Config, DecoderMirrorsEncoderUnlessOverridden) {
  VaeConfig c;
  c.encoder_hidden = {512, 256};
  EXPECT_EQ(c.decoder_hidden(), (std::vector<int>{256, 512}));
  c.decoder_hidden_override = std::vector<int>{19};
  EXPECT_EQ(c.decoder_hidden(), (std::vector<int>{19}));
}

TEST(Config, IllegalValuesAreRefusedNamingTheOption) {
  VaeConfig c;
  c.latent = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--latent: 0 is out of range"), std::string::npos);
  c = VaeConfig{};
  c.beta = -1;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--beta: must be a finite number >= 0"), std::string::npos);
  c = VaeConfig{};
  c.beta = NAN;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--beta"), std::string::npos);
  c = VaeConfig{};
  c.samples = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--samples"), std::string::npos);
  c = VaeConfig{};
  c.encoder_hidden = {400, 0};
  EXPECT_NE(error_of([&] { c.validate(); }).find("--hidden: layer width 0"), std::string::npos);
  c = VaeConfig{};
  c.decoder_hidden_override = std::vector<int>{};
  EXPECT_NE(error_of([&] { c.validate(); }).find("--decoder-hidden: at least one"), std::string::npos);
}

TEST(Config, ChoicesAreParsedAndUnknownOnesListed) {
  EXPECT_EQ(parse_activation("tanh"), Activation::Tanh);
  EXPECT_EQ(parse_likelihood("gaussian"), Likelihood::Gaussian);
  EXPECT_EQ(parse_init("xavier"), InitScheme::Xavier);
  EXPECT_EQ(error_of([] { parse_activation("gelu"); }), "--activation: unknown value 'gelu', expected relu|tanh");
  EXPECT_NE(error_of([] { parse_likelihood("poisson"); }).find("bernoulli|gaussian"), std::string::npos);
}

TEST(Config, IntListParsing) {
  EXPECT_EQ(parse_int_list("512,256", "--hidden"), (std::vector<int>{512, 256}));
  EXPECT_EQ(parse_int_list("33", "--hidden"), (std::vector<int>{33}));
  for (const char* bad : {"", "a", "4x", "4,,5", "4,", "-3", "0", "1.5"})
    EXPECT_NE(error_of([&] { parse_int_list(bad, "--hidden"); }).find("--hidden"), std::string::npos) << bad;
}

TEST(Config, JsonRoundTrip) {
  VaeConfig c;
  c.encoder_hidden = {33, 17};
  c.decoder_hidden_override = std::vector<int>{19};
  c.latent = 7;
  c.activation = Activation::Tanh;
  c.likelihood = Likelihood::Gaussian;
  c.beta = 0.5;
  c.samples = 3;
  c.init = InitScheme::Xavier;
  c.seed = 42;
  const VaeConfig back = config_from_json(to_json(c));
  EXPECT_EQ(to_json(back), to_json(c));
  nlohmann::json bad = to_json(c);
  bad["latent"] = -2;
  EXPECT_NE(error_of([&] { config_from_json(bad); }).find("--latent"), std::string::npos);
  bad.erase("hidden");
  EXPECT_NE(error_of([&] { config_from_json(bad); }).find("model config JSON"), std::string::npos);
}

TEST(Params, LayoutNamesShapesAndOffsets) {
  VaeConfig c;
  c.input_dim = 10;
  c.encoder_hidden = {6, 4};
  c.latent = 3;
  const ParamLayout layout(c);
  std::vector<std::string> names;
  size_t expected_offset = 0;
  for (const ParamView& v : layout.views()) {
    names.push_back(v.name);
    EXPECT_EQ(v.offset, expected_offset) << v.name;
    size_t n = 1;
    for (int64_t d : v.shape) n *= size_t(d);
    EXPECT_EQ(v.size, n) << v.name;
    expected_offset += v.size;
  }
  EXPECT_EQ(layout.total(), expected_offset);
  EXPECT_EQ(names, (std::vector<std::string>{"enc.0.weight", "enc.0.bias", "enc.1.weight", "enc.1.bias",
                                             "enc.mu.weight", "enc.mu.bias", "enc.logvar.weight", "enc.logvar.bias",
                                             "dec.0.weight", "dec.0.bias", "dec.1.weight", "dec.1.bias",
                                             "dec.out.weight", "dec.out.bias"}));
  EXPECT_EQ(layout.view("enc.0.weight").shape, (std::vector<int64_t>{6, 10}));  // [out, in]
  EXPECT_EQ(layout.view("dec.0.weight").shape, (std::vector<int64_t>{4, 3}));   // mirrored decoder
  EXPECT_EQ(layout.view("dec.out.weight").shape, (std::vector<int64_t>{10, 6}));
  EXPECT_THROW(layout.view("enc.9.weight"), Error);
}

TEST(Params, DefaultModelHasThePyTorchExampleParameterCount) {
  // pytorch/examples VAE: fc1 784x400, fc21/fc22 400x20, fc3 20x400, fc4 400x784 (+ biases).
  const ParamLayout layout{VaeConfig{}};
  EXPECT_EQ(layout.total(), size_t(784 * 400 + 400 + 2 * (400 * 20 + 20) + 20 * 400 + 400 + 400 * 784 + 784));
}

TEST(Params, InitIsDeterministicSeededAndWithinBounds) {
  VaeConfig c;
  c.input_dim = 50;
  c.encoder_hidden = {30};
  c.latent = 5;
  const ParamLayout layout(c);
  const std::vector<double> a = init_params(c, layout), b = init_params(c, layout);
  EXPECT_EQ(a, b);
  VaeConfig c2 = c;
  c2.seed = 1;
  EXPECT_NE(init_params(c2, layout), a);
  for (const ParamView& v : layout.views()) {
    const double fan_in = v.name.rfind("enc.0", 0) == 0 ? 50 : (v.name.rfind("dec.0", 0) == 0 ? 5 : 30);
    const double bound = 1 / std::sqrt(fan_in);
    double max_abs = 0, mean = 0;
    for (size_t i = 0; i < v.size; ++i) {
      max_abs = std::max(max_abs, std::abs(a[v.offset + i]));
      mean += a[v.offset + i] / double(v.size);
    }
    EXPECT_LE(max_abs, bound) << v.name;
    if (v.size >= 100) {  // U(-b, b) fills its range and centres on 0
      EXPECT_GT(max_abs, 0.9 * bound) << v.name;
      EXPECT_LT(std::abs(mean), 0.2 * bound) << v.name;
    }
  }
  c.init = InitScheme::Xavier;
  const std::vector<double> x = init_params(c, layout);
  const ParamView& b0 = layout.view("enc.0.bias");
  for (size_t i = 0; i < b0.size; ++i) EXPECT_EQ(x[b0.offset + i], 0.0);
  const ParamView& w0 = layout.view("enc.0.weight");
  for (size_t i = 0; i < w0.size; ++i) EXPECT_LE(std::abs(x[w0.offset + i]), std::sqrt(6.0 / 80.0));
}

}  // namespace
}  // namespace vae

// Every (step, element) pair of the training noise has a draw of its own, whatever the batch
// size: the smaller last batch of an epoch must not replay an earlier step's values (with
// index step*K*B*Z + i it did: epoch 1 at batch 128, step 468's 96 images reused step 351's).
TEST(Noise, NoTwoStepsShareADrawWhateverTheBatchSize) {
  const int samples = 1, latent = 20;
  const std::vector<double> full = vae::make_eps(7, 351, samples, 128, latent);
  const std::vector<double> last = vae::make_eps(7, 468, samples, 96, latent);
  std::set<double> seen(full.begin(), full.end());
  for (double v : last) EXPECT_EQ(seen.count(v), 0u) << "step 468 reuses a draw of step 351";
  // Over many steps of mixed batch sizes, all values are distinct.
  seen.clear();
  size_t total = 0;
  for (uint64_t step = 0; step < 200; ++step) {
    const std::vector<double> e = vae::make_eps(7, step, 2, step % 3 == 0 ? 5 : 8, 3);
    seen.insert(e.begin(), e.end());
    total += e.size();
  }
  EXPECT_EQ(seen.size(), total);
  // The same (seed, step) gives the same noise, and a step's first values do not depend on B.
  EXPECT_EQ(vae::make_eps(7, 351, samples, 128, latent), full);
  const std::vector<double> small = vae::make_eps(7, 351, samples, 4, latent);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), full.begin()));
}
