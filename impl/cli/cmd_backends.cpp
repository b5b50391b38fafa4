// vaebench backends: what this build compiled, and what can run on this machine.
#include <iostream>

#include <nlohmann/json.hpp>

#include "backend/registry.h"
#include "cli/commands.h"
#include "cli/model_options.h"

namespace vae::cli {

Subcommand add_backends_command(CLI::App& app) {
  auto* sub = app.add_subcommand("backends", "Backends compiled into this build, whether they can run here, and whether "
                                             "they run the model asked for (--model, --encoder/--decoder)");
  auto model = std::make_shared<ModelOptions>();
  add_model_options(*sub, *model);
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json,
                "One JSON document for scripts: [{name, description, precisions, devices: [{device, usable, reason}]}]");
  return {sub, [model, json]() {
    const VaeConfig config = model->config(model->natural_input_dim());  // refuse illegal model options here too
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const BackendInfo& b : registered_backends()) {
        nlohmann::json devices = nlohmann::json::array();
        for (const std::string& device : b.devices) {
          std::string reason;
          const bool ok = b.usable(device, reason);
          devices.push_back({{"device", device}, {"usable", ok}, {"reason", ok ? "" : reason}});
        }
        std::string why;
        const bool runs = supports_model(b, config, why);
        out.push_back({{"name", b.name}, {"description", b.description}, {"precisions", b.precisions}, {"devices", devices},
                       {"model", config.model}, {"supports_model", runs}, {"model_reason", runs ? "" : why}});
      }
      std::cout << out.dump(1) << "\n";
      return 0;
    }
    for (const BackendInfo& b : registered_backends()) {
      std::cout << b.name << ": " << b.description << "\n";
      for (const std::string& device : b.devices) {
        std::string reason;
        const bool ok = b.usable(device, reason);
        std::cout << "  " << device << ": " << (ok ? "usable" : "compiled, not usable here: " + reason) << "\n";
      }
      std::string why;
      if (!supports_model(b, config, why)) std::cout << "  model " << config.model << ": not supported for this model: " << why << "\n";
    }
    return 0;
  }};
}

}  // namespace vae::cli
