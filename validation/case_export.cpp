#include "case_export.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "expected_outputs.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae {

SafetensorsFile case_file(const ValidationCase& c, const CaseInputs& in, int adam_steps, const AdamOptions& adam) {
  const VaeConfig& cfg = c.config;
  const ParamLayout layout(cfg);
  SafetensorsFile f;
  f.tensors.push_back(Tensor::from("x", {c.batch, cfg.input_dim}, in.x.data()));
  f.tensors.push_back(Tensor::from("eps", {cfg.samples, c.batch, cfg.latent}, in.eps.data()));
  // The same noise per step as the built-in backends get (validation/expected_outputs.h).
  const std::vector<double> steps = adam_steps_eps(c, adam_steps);
  f.tensors.push_back(Tensor::from("adam.eps", {adam_steps, cfg.samples, c.batch, cfg.latent}, steps.data()));
  nlohmann::json names = nlohmann::json::array();
  for (const ParamView& v : layout.views()) {
    f.tensors.push_back(Tensor::from("param." + v.name, v.shape, in.params.data() + v.offset));
    names.push_back(v.name);
  }
  // Batch norm's running statistics at their initial values (nn.BatchNorm2d's), so the file
  // is the whole state_dict; num_batches_tracked F64 like every tensor here.
  nlohmann::json buffer_names = nlohmann::json::array();
  const std::vector<double> running = layout.model().buffers().initial_values();
  for (const BufferView& b : layout.model().buffers().views()) {
    f.tensors.push_back(Tensor::from("buffer." + b.name, b.shape, running.data() + b.offset));
    buffer_names.push_back(b.name);
  }
  nlohmann::json config = to_json(cfg);
  config["batch"] = c.batch;
  f.metadata["format"] = kCaseFormat;
  f.metadata["case"] = c.name;
  f.metadata["config"] = config.dump();
  // The objective the results are judged under, always written (the config carries it only
  // when it is not the default): what an implementation must compute.
  f.metadata["objective"] = to_json(cfg.objective, cfg.likelihood).dump();
  f.metadata["parameters"] = names.dump();
  if (!buffer_names.empty()) f.metadata["buffers"] = buffer_names.dump();
  f.metadata["adam"] = nlohmann::json{{"steps", adam_steps}, {"lr", adam.lr}, {"beta1", adam.beta1},
                                      {"beta2", adam.beta2}, {"eps", adam.eps}}.dump();
  f.metadata["x_source"] = in.x_source;
  return f;
}

CaseFromFile read_case_file(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  const auto meta = [&](const char* key) {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end()) throw Error(path + ": metadata has no \"" + key + "\"; not a " + kCaseFormat + " file");
    return it->second;
  };
  if (meta("format") != kCaseFormat)
    throw Error(path + ": metadata format '" + meta("format") + "', expected '" + kCaseFormat + "'");
  CaseFromFile out;
  nlohmann::json adam_meta;
  try {
    nlohmann::json config = nlohmann::json::parse(meta("config"));
    out.vcase.name = meta("case");
    out.vcase.batch = config.at("batch").get<int>();
    config.erase("batch");
    out.vcase.config = config_from_json(config);
    adam_meta = nlohmann::json::parse(meta("adam"));
    out.adam_steps = adam_meta.at("steps").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": metadata config or adam is not what " + kCaseFormat + " writes: " + e.what());
  } catch (const Error& e) {
    throw Error(path + ": metadata config: " + e.what());
  }
  const ValidationCase& c = out.vcase;
  const VaeConfig& cfg = c.config;
  const ParamLayout layout(cfg);
  const auto tensor = [&](const std::string& name, const std::vector<int64_t>& shape) {
    const Tensor& t = f.at(name);
    if (t.shape != shape)
      throw Error(path + ": " + name + " has shape " + shape_text(t.shape) + ", the configuration needs " +
                  shape_text(shape));
    return t.to_double();
  };
  out.inputs.x = tensor("x", {c.batch, cfg.input_dim});
  out.inputs.eps = tensor("eps", {cfg.samples, c.batch, cfg.latent});
  out.inputs.x_source = f.metadata.count("x_source") ? f.metadata.at("x_source") : "";
  for (const ParamView& v : layout.views()) {
    const std::vector<double> p = tensor("param." + v.name, v.shape);
    out.inputs.params.insert(out.inputs.params.end(), p.begin(), p.end());
  }
  // The judge recomputes each Adam step's noise from the case and runs its own Adam: a file
  // whose noise or hyper-parameters differ would be judged against something it does not hold.
  if (tensor("adam.eps", {out.adam_steps, cfg.samples, c.batch, cfg.latent}) != adam_steps_eps(c, out.adam_steps))
    throw Error(path + ": adam.eps is not the noise of this case's seed: the file was edited");
  const AdamOptions adam;
  const nlohmann::json& a = adam_meta;
  if (a.at("lr") != adam.lr || a.at("beta1") != adam.beta1 || a.at("beta2") != adam.beta2 || a.at("eps") != adam.eps)
    throw Error(path + ": metadata adam " + a.dump() + " differs from the Adam the judge runs (lr " +
                std::to_string(adam.lr) + "): the file was edited");
  return out;
}

}  // namespace vae
