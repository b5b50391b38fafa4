#include "model/config.h"

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/layers.h"

namespace vae {

namespace {

template <typename Enum, size_t N>
Enum parse_choice(const std::string& s, const char* option,
                  const std::pair<const char*, Enum> (&choices)[N]) {
  std::string names;
  for (const auto& [name, value] : choices) {
    if (s == name) return value;
    names += names.empty() ? name : std::string("|") + name;
  }
  throw Error(std::string(option) + ": unknown value '" + s + "', expected " + names);
}

constexpr std::pair<const char*, Activation> kActivations[] = {{"relu", Activation::Relu},
                                                               {"tanh", Activation::Tanh}};
constexpr std::pair<const char*, Likelihood> kLikelihoods[] = {
    {"bernoulli", Likelihood::Bernoulli},
    {"gaussian", Likelihood::Gaussian},
    {"continuous-bernoulli", Likelihood::ContinuousBernoulli}};
constexpr std::pair<const char*, InitScheme> kInits[] = {{"torch", InitScheme::Torch},
                                                         {"xavier", InitScheme::Xavier}};

template <typename Enum, size_t N>
std::string name_of(Enum e, const std::pair<const char*, Enum> (&choices)[N]) {
  for (const auto& [name, value] : choices)
    if (value == e) return name;
  return "?";
}

// Widths above this are almost certainly a typo and would allocate absurd buffers.
constexpr long kMaxWidth = 1 << 20;

void check_widths(const std::vector<int>& widths, const char* option) {
  if (widths.empty()) throw Error(std::string(option) + ": at least one hidden layer is required");
  for (int w : widths)
    if (w <= 0 || w > kMaxWidth)
      throw Error(std::string(option) + ": layer width " + std::to_string(w) +
                  " is out of range 1.." + std::to_string(kMaxWidth));
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

// The config's JSON without its objective.
static nlohmann::json config_json(const VaeConfig& c);

Activation parse_activation(const std::string& s) { return parse_choice(s, "--activation", kActivations); }
Likelihood parse_likelihood(const std::string& s) { return parse_choice(s, "--likelihood", kLikelihoods); }
InitScheme parse_init(const std::string& s) { return parse_choice(s, "--init", kInits); }
std::string to_string(Activation a) { return name_of(a, kActivations); }
std::string to_string(Likelihood l) { return name_of(l, kLikelihoods); }
std::string to_string(InitScheme i) { return name_of(i, kInits); }

std::vector<int> VaeConfig::decoder_hidden() const {
  if (decoder_hidden_override) return *decoder_hidden_override;
  return {encoder_hidden.rbegin(), encoder_hidden.rend()};
}

void VaeConfig::validate() const {
  if (latent <= 0 || latent > kMaxWidth)
    throw Error("--latent: " + std::to_string(latent) + " is out of range 1.." + std::to_string(kMaxWidth));
  if (layers) {
    const ModelLayers derived(*layers);  // every shape, with the layer at fault named
    if (layers->latent != latent)
      throw Error("model " + model + ": its layers have latent " + std::to_string(layers->latent) +
                  " but the config says " + std::to_string(latent));
    if (layers->input.numel() != input_dim)
      throw Error("model " + model + ": its input " + layers->input.str() + " has " +
                  std::to_string(layers->input.numel()) + " values, the config's input_dim is " +
                  std::to_string(input_dim));
  } else {
    if (input_dim <= 0 || input_dim > kMaxWidth)
      throw Error("input dimension " + std::to_string(input_dim) + " is out of range 1.." +
                  std::to_string(kMaxWidth));
    check_widths(encoder_hidden, "--hidden");
    if (decoder_hidden_override) check_widths(*decoder_hidden_override, "--decoder-hidden");
  }
  if (!std::isfinite(beta) || beta < 0)
    throw Error("--beta: must be a finite number >= 0, got " + std::to_string(beta));
  if (samples <= 0 || samples > 100000)
    throw Error("--samples: K must be in 1..100000, got " + std::to_string(samples));
  objective.validate(likelihood);
}

bool VaeConfig::default_objective() const {
  return objective.is_default() && likelihood != Likelihood::ContinuousBernoulli;
}

std::string VaeConfig::objective_summary() const {
  return vae::summary(objective, likelihood) +
         (likelihood == Likelihood::ContinuousBernoulli ? " --likelihood continuous-bernoulli" : "");
}

double VaeConfig::kl_coefficient(int batch) const { return beta * objective.kl_weight_for(batch); }

std::string VaeConfig::summary() const {
  std::ostringstream s;
  if (layers) {
    s << model << ' ' << vae::summary(*layers) << ' ' << to_string(likelihood) << " beta=" << beta << " K=" << samples
      << vae::summary(objective, likelihood);
    return s.str();
  }
  s << input_dim << "-[" << join(encoder_hidden) << "]-" << latent << "-[" << join(decoder_hidden())
    << "] " << to_string(activation) << ' ' << to_string(likelihood) << " beta=" << beta
    << " K=" << samples << vae::summary(objective, likelihood);
  return s.str();
}

nlohmann::json to_json(const VaeConfig& c) {
  nlohmann::json j = config_json(c);
  if (!c.objective.is_default()) j["objective"] = to_json(c.objective, c.likelihood);
  return j;
}

static nlohmann::json config_json(const VaeConfig& c) {
  if (c.layers)
    return {{"model", c.model},       {"layers", to_json(*c.layers)}, {"input_dim", c.input_dim},
            {"latent", c.latent},     {"likelihood", to_string(c.likelihood)}, {"beta", c.beta},
            {"samples", c.samples},   {"init", to_string(c.init)},     {"seed", c.seed}};
  return {{"input_dim", c.input_dim},
          {"hidden", c.encoder_hidden},
          {"decoder_hidden", c.decoder_hidden()},
          {"latent", c.latent},
          {"activation", to_string(c.activation)},
          {"likelihood", to_string(c.likelihood)},
          {"beta", c.beta},
          {"samples", c.samples},
          {"init", to_string(c.init)},
          {"seed", c.seed}};
}

VaeConfig config_from_json(const nlohmann::json& j) {
  VaeConfig c;
  try {
    if (j.contains("layers")) {
      c.layers = std::make_shared<const ModelSpec>(spec_from_json(j.at("layers")));
      c.model = j.contains("model") ? j.at("model").get<std::string>() : "custom";
      c.input_dim = int(c.layers->input.numel());
    }
    if (j.contains("input_dim")) c.input_dim = j.at("input_dim").get<int>();
    if (!c.layers) c.encoder_hidden = j.at("hidden").get<std::vector<int>>();
    if (j.contains("decoder_hidden")) c.decoder_hidden_override = j.at("decoder_hidden").get<std::vector<int>>();
    c.latent = j.at("latent").get<int>();
    if (!c.layers || j.contains("activation")) c.activation = parse_activation(j.at("activation").get<std::string>());
    c.likelihood = parse_likelihood(j.at("likelihood").get<std::string>());
    c.beta = j.at("beta").get<double>();
    c.samples = j.at("samples").get<int>();
    if (j.contains("init")) c.init = parse_init(j.at("init").get<std::string>());
    if (j.contains("seed")) c.seed = j.at("seed").get<uint64_t>();
    if (j.contains("objective")) c.objective = objective_from_json(j.at("objective"), c.likelihood);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("model config JSON: ") + e.what());
  }
  c.validate();
  return c;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& option) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size())
      throw Error(option + ": '" + text + "' is not a comma-separated list of integers");
    if (v <= 0 || v > kMaxWidth)
      throw Error(option + ": layer width " + item + " is out of range 1.." + std::to_string(kMaxWidth));
    out.push_back(static_cast<int>(v));
  }
  if (out.empty() || (!text.empty() && text.back() == ','))
    throw Error(option + ": '" + text + "' is not a comma-separated list of integers");
  return out;
}

}  // namespace vae
