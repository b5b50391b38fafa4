// vaebench mistakes: the catalogue of known mistakes the diagnosis names (validation/diagnosis.h),
// with each one's formula for the model asked for and whether that model can tell it apart.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "diagnosis.h"

namespace vae::cli {

Subcommand add_mistakes_command(CLI::App& app) {
  auto* sub = app.add_subcommand("mistakes", "The known mistakes a failing case is judged against (the diagnosis), "
                                             "with their formulas for the model and objective asked for (and which "
                                             "do not apply to them)");
  auto model = std::make_shared<ModelOptions>();
  add_model_options(*sub, *model);
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "One JSON document: [{name, kind, applies, formula}]");
  return {sub, [model, json]() {
    const ValidationCase c{"asked", model->config(model->natural_input_dim()), model->batch};
    nlohmann::json out = nlohmann::json::array();
    for (const KnownMistake& k : known_mistakes()) {
      const bool applies = k.applies(c);
      if (*json) {
        out.push_back({{"name", k.name}, {"kind", k.kind}, {"applies", applies}, {"formula", k.formula(c)}});
        continue;
      }
      std::cout << k.name << " (" << k.kind << ")" << (applies ? "" : " [does not apply to this model and objective]")
                << "\n  " << k.formula(c) << "\n";
    }
    if (*json) std::cout << out.dump(1) << "\n";
    return 0;
  }};
}

}  // namespace vae::cli
