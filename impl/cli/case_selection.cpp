#include "cli/case_selection.h"

#include <algorithm>

#include "expected_outputs.h"
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

std::vector<std::string> split_case_names(const std::string& names) {
  std::vector<std::string> out;
  if (names.empty()) return out;
  std::string::size_type begin = 0;
  while (begin <= names.size()) {
    const auto end = std::min(names.find(',', begin), names.size());
    out.push_back(names.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

std::vector<ValidationCase> pick_cases(const std::vector<ValidationCase>& cases, const std::string& names) {
  if (names.empty()) return cases;
  const std::vector<std::string> wanted = split_case_names(names);
  std::vector<ValidationCase> picked;
  for (const ValidationCase& c : cases)
    if (std::find(wanted.begin(), wanted.end(), c.name) != wanted.end()) picked.push_back(c);
  return picked;
}

void check_case_names(const std::string& names, const std::string& matrix) {
  if (names.empty()) return;
  const std::vector<ValidationCase> cases = matrix_cases(matrix);
  std::string known;
  for (const ValidationCase& c : cases) known += (known.empty() ? "" : ", ") + c.name;
  for (const std::string& name : split_case_names(names))
    if (std::none_of(cases.begin(), cases.end(), [&](const ValidationCase& c) { return c.name == name; }))
      throw Error("--case: no case named '" + name + "' " +
                  (matrix == "all" ? std::string("in either matrix") : "in --matrix " + matrix) + "; cases: " + known);
}

ValidationCase custom_case(const ModelOptions& model, int input_dim) {
  return {"custom-b" + std::to_string(model.batch), model.config(input_dim), model.batch};
}

std::vector<ValidationCase> selected_cases(const CLI::App& app, const ModelOptions& model, const std::string& matrix,
                                           const std::string& case_name, int input_dim) {
  if (!any_model_option_given(app)) check_case_names(case_name, matrix);
  std::vector<ValidationCase> cases =
      any_model_option_given(app) ? std::vector<ValidationCase>{custom_case(model, input_dim)}
                                  : pick_cases(matrix_cases(matrix), case_name);
  for (ValidationCase& c : cases) fit_to_data(c.config, input_dim);
  return cases;
}

std::vector<std::string> known_case_names(const CLI::App& app, const ModelOptions& model, int input_dim) {
  std::vector<std::string> names;
  for (const ValidationCase& c : matrix_cases("all")) names.push_back(c.name);
  if (any_model_option_given(app)) names.push_back(custom_case(model, input_dim).name);
  return names;
}

}  // namespace vae::cli
