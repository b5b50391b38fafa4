#include "diagnosis.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "expected_outputs.h"
#include "common/error.h"
#include "model/layers.h"
#include "running_stats_compare.h"
#include "tolerances.h"

namespace vae {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
std::string B(const ValidationCase& c) { return std::to_string(c.batch); }
std::string D(const ValidationCase& c) { return std::to_string(c.config.input_dim); }
std::string Z(const ValidationCase& c) { return std::to_string(c.config.latent); }

MistakenCase spec(const ValidationCase& c, const CaseInputs& in) { return {c.config, {}, in.eps}; }
MistakenCase with_deviation(const ValidationCase& c, const CaseInputs& in, ref::Deviation d) {
  return {c.config, d, in.eps};
}

bool always(const ValidationCase&) { return true; }
bool has_batch_norm(const ValidationCase& c) { return ModelLayers(model_spec(c.config)).buffers().total() > 0; }
bool gaussian(const ValidationCase& c) { return c.config.likelihood == Likelihood::Gaussian; }
bool decoder_reshapes_to_channels(const ValidationCase& c) {
  for (const LayerSpec& l : model_spec(c.config).decoder)
    if (l.kind == LayerKind::Dense && l.reshape && l.reshape->c > 1 && l.reshape->h * l.reshape->w > 1) return true;
  return false;
}

// The catalogue. Each entry cites the class of public bug it reproduces; the formulas are
// written with the case's numbers so that a reader can check them.
std::vector<KnownMistake> catalogue() {
  std::vector<KnownMistake> m;
  // --- reductions: the most common report on VAE issue trackers ("my gradients are B times
  // smaller", "the loss is tiny"); pythae, PyTorch-VAE and Keras average where the ELBO sums.
  m.push_back({"batch-mean-for-sum", "batch reduction",
               [](const ValidationCase& c) { return c.config.objective.batch == Reduction::Sum && c.batch > 1; },
               [](const ValidationCase& c) {
                 return "every gradient x 1/" + B(c) + " (1/B): the gradient of the batch mean where the objective "
                        "sums over the batch";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.batch = Reduction::Mean;
                 return r;
               }});
  m.push_back({"batch-sum-for-mean", "batch reduction",
               [](const ValidationCase& c) { return c.config.objective.batch == Reduction::Mean && c.batch > 1; },
               [](const ValidationCase& c) {
                 return "every gradient x " + B(c) + " (B): the gradient of the batch sum where the objective averages "
                        "over the batch";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.batch = Reduction::Sum;
                 return r;
               }});
  m.push_back({"pixel-mean-for-sum", "reconstruction reduction",
               [](const ValidationCase& c) { return c.config.objective.pixels == Reduction::Sum; },
               [](const ValidationCase& c) {
                 return "recon = the reference's / " + D(c) + " (D): a mean over pixels (F.mse_loss / "
                        "F.binary_cross_entropy's default reduction) where the objective sums them";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.pixels = Reduction::Mean;
                 return r;
               }});
  m.push_back({"pixel-sum-for-mean", "reconstruction reduction",
               [](const ValidationCase& c) { return c.config.objective.pixels == Reduction::Mean; },
               [](const ValidationCase& c) {
                 return "recon = the reference's x " + D(c) + " (D): a sum over pixels where the objective averages them";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.pixels = Reduction::Sum;
                 return r;
               }});
  // --- the KL term
  m.push_back({"kl-mean-over-latent", "KL reduction", always,
               [](const ValidationCase& c) {
                 return "kl = KL / " + Z(c) + " (Z): a mean over the latent dimensions (torch.mean of the KL terms) "
                        "where the ELBO sums them";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.kl = ref::Deviation::Kl::MeanOverLatent;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"kl-of-batch-per-image", "KL reduction", [](const ValidationCase& c) { return c.batch > 1; },
               [](const ValidationCase& c) {
                 return "kl_b = the batch's summed KL for every image: torch.sum over the whole [B, Z] tensor added to "
                        "per-image terms, so the KL's gradient is x " + B(c) + " (B)";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.kl = ref::Deviation::Kl::BatchPerImage;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"kl-sign-flipped", "KL formula", always,
               [](const ValidationCase&) {
                 return std::string("kl = -KL: 0.5 * sum(1 + logvar - mu^2 - exp(logvar)) without its minus sign");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.kl = ref::Deviation::Kl::SignFlipped;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"beta-missing", "KL weight", [](const ValidationCase& c) { return c.config.beta != 1; },
               [](const ValidationCase& c) {
                 return "loss = recon + KL: beta = " + num(c.config.beta) + " never applied";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.beta = 1;
                 return r;
               }});
  m.push_back({"beta-twice", "KL weight", [](const ValidationCase& c) { return c.config.beta != 1 && c.config.beta != 0; },
               [](const ValidationCase& c) {
                 return "loss = recon + beta^2 KL: beta = " + num(c.config.beta) + " applied twice (in the KL and again "
                        "in the loss)";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.beta = c.config.beta * c.config.beta;
                 return r;
               }});
  m.push_back({"kl-weight-missing", "KL weight",
               [](const ValidationCase& c) { return c.config.objective.kl_weight_for(c.batch) != 1; },
               [](const ValidationCase& c) {
                 return "loss = recon + beta KL: the declared KL weight " + kl_weight_text(c.config.objective) +
                        " never applied";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.kl_weight = 1;
                 r.config.objective.kl_weight_train_size = 0;
                 return r;
               }});
  // --- the reparameterisation: "std = exp(logvar)", "logvar used as std" (pytorch/examples,
  // Keras and tutorial issue threads)
  m.push_back({"std-exp-logvar", "reparameterisation", always,
               [](const ValidationCase&) {
                 return std::string("sigma = exp(logvar) where it is exp(0.5 logvar): z samples with the variance "
                                    "squared (the KL still reads logvar)");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.sampling = ref::Deviation::Sampling::StdExpLogvar;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"logvar-as-sigma", "reparameterisation", always,
               [](const ValidationCase&) {
                 return std::string("sigma = logvar: the log-variance head used as the standard deviation in "
                                    "z = mu + sigma eps (the KL still reads it as logvar)");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.sampling = ref::Deviation::Sampling::HeadIsSigma;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"logvar-as-log-sigma", "reparameterisation", always,
               [](const ValidationCase&) {
                 return std::string("the head read as log sigma throughout: sigma = exp(l) and "
                                    "KL = -0.5 sum(1 + 2l - mu^2 - exp(2l)), where it is log sigma^2");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.sampling = ref::Deviation::Sampling::HeadIsLogSigma;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"relu-on-logvar", "encoder heads", always,
               [](const ValidationCase&) {
                 return std::string("logvar = relu(head): an activation on the log-variance head, so sigma >= 1");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.relu_on_logvar = true;
                 return with_deviation(c, in, d);
               }});
  // --- the likelihood
  m.push_back({"sigmoid-twice", "likelihood input", always,
               [](const ValidationCase&) {
                 return std::string("the loss reads sigmoid(o) where it reads o: a sigmoid output fed to "
                                    "BCE-with-logits (or sigmoid applied twice)");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.sigmoid_twice = true;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"gaussian-constant-missing", "Gaussian likelihood",
               [](const ValidationCase& c) { return gaussian(c) && c.config.objective.gaussian_constant; },
               [](const ValidationCase& c) {
                 const double per_pixel = std::log(c.config.objective.sigma) + 0.5 * ref::kLog2Pi;
                 return "recon lacks D (log sigma + 0.5 log 2 pi) = " + num(per_pixel * c.config.input_dim) +
                        " nats per image (an MSE where the Gaussian NLL is declared)";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.gaussian_constant = false;
                 return r;
               }});
  m.push_back({"gaussian-constant-added", "Gaussian likelihood",
               [](const ValidationCase& c) { return gaussian(c) && !c.config.objective.gaussian_constant; },
               [](const ValidationCase& c) {
                 return "recon carries D (log sigma + 0.5 log 2 pi) the declared objective leaves out (the full NLL "
                        "where " + std::string(c.config.objective.gaussian_half ? "0.5 x " : "") + "MSE is declared)";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.gaussian_constant = true;
                 return r;
               }});
  m.push_back({"gaussian-half-missing", "Gaussian likelihood",
               [](const ValidationCase& c) { return gaussian(c) && c.config.objective.gaussian_half; },
               [](const ValidationCase&) {
                 return std::string("(x - mean)^2 / sigma^2 where it is 0.5 (x - mean)^2 / sigma^2: the squared "
                                    "error without its 0.5");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.gaussian_half = false;
                 return r;
               }});
  m.push_back({"gaussian-half-added", "Gaussian likelihood",
               [](const ValidationCase& c) { return gaussian(c) && !c.config.objective.gaussian_half; },
               [](const ValidationCase&) {
                 return std::string("0.5 (x - mean)^2 where the declared objective has (x - mean)^2 (F.mse_loss)");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 r.config.objective.gaussian_half = true;
                 return r;
               }});
  // --- the noise
  m.push_back({"noise-ignored", "noise", always,
               [](const ValidationCase&) { return std::string("eps = 0: z = mu (no sampling while training)"); },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 std::fill(r.eps.begin(), r.eps.end(), 0.0);
                 return r;
               }});
  m.push_back({"noise-shared-across-batch", "noise", [](const ValidationCase& c) { return c.batch > 1; },
               [](const ValidationCase& c) {
                 return "one eps for the whole batch: randn(Z) broadcast over the " + B(c) + " images";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 const size_t z = size_t(c.config.latent), b = size_t(c.batch);
                 for (size_t k = 0; k < size_t(c.config.samples); ++k)
                   for (size_t i = 1; i < b; ++i)
                     std::copy_n(in.eps.begin() + long((k * b) * z), z, r.eps.begin() + long((k * b + i) * z));
                 return r;
               }});
  m.push_back({"noise-shared-across-samples", "noise", [](const ValidationCase& c) { return c.config.samples > 1; },
               [](const ValidationCase& c) {
                 return "one eps for all K = " + std::to_string(c.config.samples) +
                        " samples of an image: the K samples are the same sample";
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 MistakenCase r = spec(c, in);
                 const size_t kb = size_t(c.batch) * size_t(c.config.latent);
                 for (size_t k = 1; k < size_t(c.config.samples); ++k)
                   std::copy_n(in.eps.begin(), kb, r.eps.begin() + long(k * kb));
                 return r;
               }});
  // --- the model
  m.push_back({"batch-norm-eval-mode", "batch norm", has_batch_norm,
               [](const ValidationCase&) {
                 return std::string("batch norm in eval mode while training: normalised by the running statistics "
                                    "(model.eval() left on), which then stay unchanged");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.batch_norm_eval = true;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"decoder-reshape-channels-last", "decoder layout", decoder_reshapes_to_channels,
               [](const ValidationCase&) {
                 return std::string("the decoder's dense output viewed as H x W x C and permuted to C x H x W, "
                                    "where PyTorch's view(B, C, H, W) is meant");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.decoder_reshape_channels_last = true;
                 return with_deviation(c, in, d);
               }});
  // --- the gradient
  m.push_back({"gradient-of-recon-only", "backward", always,
               [](const ValidationCase&) {
                 return std::string("the gradient of recon alone: the KL term detached or left out of backward() "
                                    "(the outputs are right)");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.gradient = ref::Deviation::Gradient::ReconOnly;
                 return with_deviation(c, in, d);
               }});
  m.push_back({"gradient-of-kl-only", "backward", always,
               [](const ValidationCase&) {
                 return std::string("the gradient of the KL term alone: recon detached or left out of backward() "
                                    "(the outputs are right)");
               },
               [](const ValidationCase& c, const CaseInputs& in) {
                 ref::Deviation d;
                 d.gradient = ref::Deviation::Gradient::KlOnly;
                 return with_deviation(c, in, d);
               }});
  return m;
}

std::vector<double> to_vector(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

// The comparisons of `got` against `want`, quantity by quantity, as the judge makes them
// (compare_outputs_and_gradients: the output rows -- per image, or `by_totals` got's totals --
// then one per gradient tensor).
MistakeMatch judge_against(const ValidationCase& c, const std::string& precision, const Observed& got,
                           const Observed& want, bool by_totals) {
  MistakeMatch m;
  const auto note = [&](const Comparison& cmp) {
    if (cmp.percent_of_tolerance >= m.worst_percent || m.worst_quantity.empty()) {
      m.worst_percent = cmp.percent_of_tolerance;
      m.worst_quantity = cmp.quantity;
    }
  };
  const ParamLayout layout(c.config);
  const std::vector<Comparison> rows = compare_outputs_and_gradients(c.config, layout, precision,
                                                                     {got.losses, got.grad,
                                                                      by_totals ? got.totals : std::nullopt},
                                                                     {want.losses, want.grad, want.totals});
  m.outputs_match = true;
  for (size_t i = 0; i < rows.size(); ++i) {
    note(rows[i]);
    if (is_output_row(rows[i])) {
      m.outputs_match &= rows[i].passed;
    } else {
      ++m.gradients;
      m.gradients_off += rows[i].passed ? 0 : 1;
    }
  }
  bool running_ok = true;
  const BufferLayout& buffers = layout.model().buffers();
  if (buffers.total() > 0 && !got.running.empty())
    for (const Comparison& cmp :
         compare_running_stats("running", buffers, got.running, want.running, buffers.initial_values(),
                               tol::backend(tol::Quantity::RunningStats, precision))) {
      running_ok &= cmp.passed;
      note(cmp);
    }
  m.everything_matches = m.outputs_match && m.gradients_off == 0 && running_ok;
  return m;
}

Observed reference_outputs(const MistakenCase& mc, const CaseInputs& in, int batch) {
  const ref::VaeReference model(mc.config, mc.deviation);
  const ref::Matrix x = Eigen::Map<const ref::Matrix>(in.x.data(), batch, mc.config.input_dim);
  Observed o;
  std::vector<double> running = model.layout().model().buffers().initial_values();
  const ref::Losses l = model.forward_backward(in.params, x, mc.eps, o.grad, 1.0, running.empty() ? nullptr : &running);
  o.losses = {to_vector(l.recon), to_vector(l.kl), to_vector(l.loss), to_vector(l.elbo)};
  // What code that returns only totals would report with this mistake: reduced over the batch
  // as the mistaken objective reduces (a batch mean where the sum is declared is the mean).
  o.totals = batch_totals(mc.config, o.losses);
  o.running = std::move(running);
  return o;
}

std::string percent(double p) {
  std::ostringstream s;
  s.precision(2);
  s << p << "%";
  return s.str();
}

}  // namespace

const std::vector<KnownMistake>& known_mistakes() {
  static const std::vector<KnownMistake> m = catalogue();
  return m;
}

const KnownMistake& known_mistake(const std::string& name) {
  std::string names;
  for (const KnownMistake& k : known_mistakes()) {
    if (k.name == name) return k;
    names += (names.empty() ? "" : ", ") + k.name;
  }
  throw Error("no known mistake named '" + name + "'; the catalogue: " + names);
}

Diagnosis diagnose(const ValidationCase& c, const CaseInputs& in, const std::string& precision, const Observed& got) {
  Diagnosis d;
  d.ran = true;
  // A mistake is evidence only where it changes something on this case: judged against the
  // spec, the reference with the mistake must fail (relu-on-logvar changes nothing where every
  // head is positive; a mistake of the gradient alone leaves the outputs as they are).
  const Observed spec_outputs = reference_outputs(spec(c, in), in, c.batch);
  size_t checked = 0;
  for (const KnownMistake& k : known_mistakes()) {
    if (!k.applies(c)) continue;
    const Observed mistaken = reference_outputs(k.apply(c, in), in, c.batch);
    // Judged as the implementation's results are: by the totals where it gave only those.
    const MistakeMatch against_spec = judge_against(c, precision, mistaken, spec_outputs, got.totals.has_value());
    if (against_spec.everything_matches) continue;  // indistinguishable from the spec here
    ++checked;
    MistakeMatch m = judge_against(c, precision, got, mistaken, got.totals.has_value());
    m.name = k.name;
    m.formula = k.formula(c);
    m.outputs_match &= !against_spec.outputs_match;  // outputs it does not change are no evidence
    if (m.everything_matches) d.named.push_back(k.name);
    d.candidates.push_back(std::move(m));
  }
  if (!d.named.empty()) {
    for (const MistakeMatch& m : d.candidates) {
      if (!m.everything_matches) continue;
      d.text += (d.text.empty() ? "" : "; or ") + m.name + ": " + m.formula + " (every output and gradient within " +
                precision + " tolerance of the reference with this mistake; worst " + m.worst_quantity + " at " +
                percent(m.worst_percent) + " of tolerance)";
    }
    if (d.named.size() > 1) d.text = "ambiguous on this case -- " + d.text;
    return d;
  }
  std::string outputs_only;
  for (const MistakeMatch& m : d.candidates)
    if (m.outputs_match)
      outputs_only += (outputs_only.empty() ? "" : "; ") + m.name + " (" + m.formula + "), but " +
                      std::to_string(m.gradients_off) + " of " + std::to_string(m.gradients) +
                      " gradient tensors do not match it";
  d.text = outputs_only.empty()
               ? "no known mistake matches (" + std::to_string(checked) + " that this case can tell apart checked within " +
                     precision + " tolerance; `vaebench mistakes` lists the catalogue)"
               : "the outputs match " + outputs_only + ": the gradients carry a further mistake";
  return d;
}

nlohmann::json to_json(const Diagnosis& d) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const MistakeMatch& m : d.candidates)
    candidates.push_back({{"name", m.name},
                          {"formula", m.formula},
                          {"matches", m.everything_matches},
                          {"outputs_match", m.outputs_match},
                          {"gradients_off", m.gradients_off},
                          {"gradients", m.gradients},
                          {"worst_quantity", m.worst_quantity},
                          {"worst_percent_of_tolerance", std::isfinite(m.worst_percent) ? nlohmann::json(m.worst_percent)
                                                                                        : nlohmann::json("inf")}});
  return {{"named", d.named}, {"text", d.text}, {"checked", candidates}};
}

}  // namespace vae
