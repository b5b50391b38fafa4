#pragma once
// Each subcommand registers itself on the app and returns the function that runs it.
#include <functional>

#include <CLI/CLI.hpp>

namespace vae::cli {

struct Subcommand {
  CLI::App* app;
  std::function<int()> run;  // returns the process exit code
};

Subcommand add_info_command(CLI::App& app);
Subcommand add_backends_command(CLI::App& app);
Subcommand add_validate_command(CLI::App& app);
Subcommand add_train_command(CLI::App& app);
Subcommand add_report_command(CLI::App& app);
Subcommand add_cases_command(CLI::App& app);
Subcommand add_mistakes_command(CLI::App& app);
Subcommand add_judge_command(CLI::App& app);

}  // namespace vae::cli
