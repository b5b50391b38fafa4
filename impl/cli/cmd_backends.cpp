// vaebench backends: what this build compiled, and what can run on this machine.
#include <iostream>

#include "backend/registry.h"
#include "cli/commands.h"
#include "cli/model_options.h"

namespace vae::cli {

Subcommand add_backends_command(CLI::App& app) {
  auto* sub = app.add_subcommand("backends", "Backends compiled into this build, and whether they can run here");
  auto model = std::make_shared<ModelOptions>();
  add_model_options(*sub, *model);
  return {sub, [model]() {
    model->config(VaeConfig{}.input_dim);  // refuse illegal model options here too
    for (const BackendInfo& b : registered_backends()) {
      std::cout << b.name << ": " << b.description << "\n";
      for (const std::string& device : b.devices) {
        std::string reason;
        const bool ok = b.usable(device, reason);
        std::cout << "  " << device << ": " << (ok ? "usable" : "compiled, not usable here: " + reason) << "\n";
      }
    }
    return 0;
  }};
}

}  // namespace vae::cli
