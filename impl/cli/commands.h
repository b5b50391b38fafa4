#pragma once
// Each subcommand registers itself on the app and returns the function that runs it.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/error.h"

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

// Parses the command line and runs the subcommand given; a vae::Error goes to `on_error` (which
// prints it and returns the exit status), any other exception is "<program>: internal error"
// with status 3. What vaebench and vaebench-judge share.
int parse_and_run(CLI::App& app, const std::vector<Subcommand>& commands, int argc, char** argv,
                  const std::string& program, const std::function<int(const vae::Error&)>& on_error);

}  // namespace vae::cli
