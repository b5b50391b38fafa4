#include "model/objective.h"

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/config.h"

namespace vae {

namespace {

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

bool is_bernoulli_family(Likelihood l) { return l == Likelihood::Bernoulli || l == Likelihood::ContinuousBernoulli; }

// Whether the probabilities p = sigmoid(o) exist in the loss (and so may be clamped).
bool uses_probs(const Objective& o, Likelihood l) {
  return l == Likelihood::ContinuousBernoulli ||
         (l == Likelihood::Bernoulli && o.bernoulli_input == BernoulliInput::Probs);
}

}  // namespace

bool Objective::operator==(const Objective& o) const {
  return batch == o.batch && pixels == o.pixels && bernoulli_input == o.bernoulli_input && clamp == o.clamp &&
         gaussian_constant == o.gaussian_constant && gaussian_half == o.gaussian_half && sigma == o.sigma &&
         kl_weight == o.kl_weight && kl_weight_train_size == o.kl_weight_train_size;
}

double Objective::kl_weight_for(int images) const {
  return kl_weight_train_size > 0 ? double(images) / double(kl_weight_train_size) : kl_weight;
}

void Objective::validate(Likelihood l) const {
  const Objective d;
  const std::string lik = "--likelihood " + to_string(l);
  if (l != Likelihood::Bernoulli && bernoulli_input != d.bernoulli_input)
    throw Error("--bernoulli-input: only for --likelihood bernoulli, not " + to_string(l));
  if (!(clamp >= 0 && clamp < 0.5))
    throw Error("--prob-clamp: " + number(clamp) + " is out of range [0, 0.5) (probabilities clamped to [c, 1-c])");
  if (clamp > 0 && !uses_probs(*this, l))
    throw Error("--prob-clamp: clamps probabilities, which " + lik +
                (l == Likelihood::Bernoulli ? " on logits (--bernoulli-input logits) never forms"
                                            : " does not have (its mean is sigmoid(o), unclamped)"));
  if (l != Likelihood::Gaussian) {
    if (gaussian_constant != d.gaussian_constant) throw Error("--gaussian-constant: only for --likelihood gaussian, not " + to_string(l));
    if (gaussian_half != d.gaussian_half) throw Error("--gaussian-half: only for --likelihood gaussian, not " + to_string(l));
    if (sigma != d.sigma) throw Error("--sigma: only for --likelihood gaussian, not " + to_string(l));
  }
  if (!(std::isfinite(sigma) && sigma > 0)) throw Error("--sigma: must be a finite number > 0, got " + number(sigma));
  if (!(std::isfinite(kl_weight) && kl_weight >= 0))
    throw Error("--kl-weight: must be a finite number >= 0, got " + number(kl_weight));
  if (kl_weight_train_size < 0) throw Error("--kl-weight: batch/N needs N >= 1");
  if (kl_weight_train_size > 0 && kl_weight != 1)
    throw Error("--kl-weight: a fixed weight and batch/N cannot both be given");
}

Reduction parse_reduction(const std::string& s, const std::string& option) {
  if (s == "sum") return Reduction::Sum;
  if (s == "mean") return Reduction::Mean;
  throw Error(option + ": unknown value '" + s + "', expected sum|mean");
}

BernoulliInput parse_bernoulli_input(const std::string& s) {
  if (s == "logits") return BernoulliInput::Logits;
  if (s == "probs") return BernoulliInput::Probs;
  throw Error("--bernoulli-input: unknown value '" + s + "', expected logits|probs");
}

std::string to_string(Reduction r) { return r == Reduction::Sum ? "sum" : "mean"; }
std::string to_string(BernoulliInput b) { return b == BernoulliInput::Logits ? "logits" : "probs"; }

bool parse_switch(const std::string& s, const std::string& option) {
  if (s == "on" || s == "true" || s == "1") return true;
  if (s == "off" || s == "false" || s == "0") return false;
  throw Error(option + ": unknown value '" + s + "', expected on|off");
}

void parse_kl_weight(const std::string& text, Objective& o) {
  const std::string prefix = "batch/";
  try {
    size_t used = 0;
    if (text.rfind(prefix, 0) == 0) {
      const std::string n = text.substr(prefix.size());
      const long long v = std::stoll(n, &used);
      if (used != n.size() || v < 1) throw std::invalid_argument("N");
      o.kl_weight = 1;
      o.kl_weight_train_size = v;
      return;
    }
    const double w = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument("W");
    o.kl_weight = w;
    o.kl_weight_train_size = 0;
  } catch (const std::exception&) {
    throw Error("--kl-weight: '" + text + "' is neither a number nor batch/N (N the training set's size, N >= 1)");
  }
  if (!(std::isfinite(o.kl_weight) && o.kl_weight >= 0))
    throw Error("--kl-weight: must be a finite number >= 0, got '" + text + "'");
}

std::string kl_weight_text(const Objective& o) {
  return o.kl_weight_train_size > 0 ? "batch/" + std::to_string(o.kl_weight_train_size) : number(o.kl_weight);
}

std::string summary(const Objective& o, Likelihood l) {
  const Objective d;
  std::string s;
  if (o.batch != d.batch) s += " batch=" + to_string(o.batch);
  if (o.pixels != d.pixels) s += " pixels=" + to_string(o.pixels);
  if (l == Likelihood::Bernoulli && o.bernoulli_input != d.bernoulli_input) s += " input=" + to_string(o.bernoulli_input);
  if (o.clamp > 0) s += " clamp=" + number(o.clamp);
  if (l == Likelihood::Gaussian && (!o.gaussian_constant || !o.gaussian_half || o.sigma != 1))
    s += std::string(" gaussian(") + (o.gaussian_half ? "half" : "no-half") +
         (o.gaussian_constant ? "" : ", no-constant") + ", sigma=" + number(o.sigma) + ")";
  if (o.kl_weight != 1 || o.kl_weight_train_size > 0) s += " kl_weight=" + kl_weight_text(o);
  return s;
}

nlohmann::json to_json(const Objective& o, Likelihood l) {
  nlohmann::json j = {{"batch", to_string(o.batch)}, {"pixels", to_string(o.pixels)}};
  if (l == Likelihood::Bernoulli) j["bernoulli_input"] = to_string(o.bernoulli_input);
  if (is_bernoulli_family(l)) j["clamp"] = o.clamp;
  if (l == Likelihood::Gaussian) {
    j["gaussian_constant"] = o.gaussian_constant;
    j["gaussian_half"] = o.gaussian_half;
    j["sigma"] = o.sigma;
  }
  if (o.kl_weight_train_size > 0) j["kl_weight"] = kl_weight_text(o);
  else j["kl_weight"] = o.kl_weight;
  return j;
}

Objective objective_from_json(const nlohmann::json& j, Likelihood l) {
  if (!j.is_object()) throw Error("objective JSON: must be an object, got " + j.dump());
  Objective o;
  const auto fail = [](const std::string& key, const std::string& why) -> Error {
    return Error("objective JSON: " + key + ": " + why);
  };
  for (const auto& [key, value] : j.items()) {
    try {
      if (key == "batch") o.batch = parse_reduction(value.get<std::string>(), "--batch-reduction");
      else if (key == "pixels") o.pixels = parse_reduction(value.get<std::string>(), "--pixel-reduction");
      else if (key == "bernoulli_input" && l == Likelihood::Bernoulli)
        o.bernoulli_input = parse_bernoulli_input(value.get<std::string>());
      else if (key == "clamp" && is_bernoulli_family(l)) o.clamp = value.get<double>();
      else if (key == "gaussian_constant" && l == Likelihood::Gaussian) o.gaussian_constant = value.get<bool>();
      else if (key == "gaussian_half" && l == Likelihood::Gaussian) o.gaussian_half = value.get<bool>();
      else if (key == "sigma" && l == Likelihood::Gaussian) o.sigma = value.get<double>();
      else if (key == "kl_weight") {
        if (value.is_string()) parse_kl_weight(value.get<std::string>(), o);
        else o.kl_weight = value.get<double>();
      } else {
        throw fail(key, "not a key of an objective for the " + to_string(l) + " likelihood (keys: " +
                            to_json(Objective{}, l).dump() + ")");
      }
    } catch (const nlohmann::json::exception& e) {
      throw fail(key, std::string("wrong type: ") + e.what());
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind("objective JSON", 0) == 0) throw;
      throw fail(key, what);
    }
  }
  try {
    o.validate(l);
  } catch (const Error& e) {
    throw Error(std::string("objective JSON: ") + e.what());
  }
  return o;
}

}  // namespace vae
