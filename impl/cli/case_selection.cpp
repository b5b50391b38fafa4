#include "cli/case_selection.h"

#include <algorithm>

#include "backend_checks.h"
#include "common/error.h"

namespace vae::cli {

std::vector<ValidationCase> matrix_cases(const std::string& matrix) {
  if (matrix == "backend") return backend_matrix();
  if (matrix == "reference") return reference_matrix();
  if (matrix == "all") {
    std::vector<ValidationCase> all = backend_matrix();
    // default-b128 is in both matrices, the same case; it is exported and judged once.
    for (const ValidationCase& c : reference_matrix())
      if (std::none_of(all.begin(), all.end(), [&](const ValidationCase& a) { return a.name == c.name; }))
        all.push_back(c);
    return all;
  }
  throw Error("--matrix: unknown matrix '" + matrix + "', choose from: backend, reference, all");
}

std::vector<ValidationCase> pick_cases(const std::vector<ValidationCase>& cases, const std::string& name) {
  if (name.empty()) return cases;
  std::vector<ValidationCase> picked;
  for (const ValidationCase& c : cases)
    if (c.name == name) picked.push_back(c);
  return picked;
}

Error no_such_case(const std::string& name, const std::string& matrix) {
  std::string names;
  for (const ValidationCase& c : matrix_cases(matrix)) names += (names.empty() ? "" : ", ") + c.name;
  return Error("--case: no case named '" + name + "' in --matrix " + matrix + "; its cases: " + names);
}

ValidationCase custom_case(const ModelOptions& model, int input_dim) {
  return {"custom-b" + std::to_string(model.batch), model.config(input_dim), model.batch};
}

std::vector<ValidationCase> selected_cases(const CLI::App& app, const ModelOptions& model, const std::string& matrix,
                                           const std::string& case_name, int input_dim) {
  std::vector<ValidationCase> cases =
      any_model_option_given(app) ? std::vector<ValidationCase>{custom_case(model, input_dim)}
                                  : pick_cases(matrix_cases(matrix), case_name);
  if (cases.empty()) throw no_such_case(case_name, matrix);
  for (ValidationCase& c : cases) c.config.input_dim = input_dim;
  return cases;
}

std::vector<std::string> known_case_names(const CLI::App& app, const ModelOptions& model, int input_dim) {
  std::vector<std::string> names;
  for (const ValidationCase& c : matrix_cases("all")) names.push_back(c.name);
  if (any_model_option_given(app)) names.push_back(custom_case(model, input_dim).name);
  return names;
}

}  // namespace vae::cli
