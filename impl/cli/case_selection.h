#pragma once
// Which validation cases a command works on, shared by `vaebench cases export` and
// `vaebench validate` so that an implementation given the exported cases is judged on exactly
// those: one custom case when model options are given, else a matrix (or one case of it).
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cases.h"
#include "cli/model_options.h"
#include "common/error.h"

namespace vae::cli {

// --matrix backend|reference|all (all: the backend matrix, then the reference's cases not in
// it: 23 cases).
std::vector<ValidationCase> matrix_cases(const std::string& matrix);

// "a,b,c" -> {"a", "b", "c"}; "" -> {}.
std::vector<std::string> split_case_names(const std::string& names);

// The cases named in `names`, a comma list (all when empty); may be empty.
std::vector<ValidationCase> pick_cases(const std::vector<ValidationCase>& cases, const std::string& names);

// vae::Error "--case: no case named ... in --matrix ...", listing that matrix's cases, for the
// first name of the comma list `names` that --matrix does not have.
void check_case_names(const std::string& names, const std::string& matrix);

// "custom-b<batch>": the one configuration the model options describe.
ValidationCase custom_case(const ModelOptions& model, int input_dim);

// The cases to export or to expect, with the data's input size: custom_case when `app` was
// given a model option, else --matrix and --case.
std::vector<ValidationCase> selected_cases(const CLI::App& app, const ModelOptions& model, const std::string& matrix,
                                           const std::string& case_name, int input_dim);

// Every name a case can have here: both matrices, and the custom case when model options are given.
std::vector<std::string> known_case_names(const CLI::App& app, const ModelOptions& model, int input_dim);

}  // namespace vae::cli
