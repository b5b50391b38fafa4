// vaebench-judge: the LibTorch-free part of vaebench -- the reference, case files, the judge of
// results files and the diagnosis -- built with -DVAE_JUDGE_ONLY=ON (no LibTorch, CUDA,
// GoogleTest or Google Benchmark) into the Python package (python/), and beside vaebench in
// every build. Its subcommands are vaebench's own, the same code.
#include <iostream>

#include "cli/commands.h"
#include "common/build_info.h"

int main(int argc, char** argv) {
  CLI::App app{"vaebench-judge " VAE_VERSION ": results of a VAE implementation judged against vaebench's "
               "double-precision reference (no LibTorch)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vaebench-judge " VAE_VERSION " (" VAE_GIT_SHA ", " VAE_BUILD_TYPE ")");
  const std::vector<vae::cli::Subcommand> commands = {
      vae::cli::add_cases_command(app), vae::cli::add_judge_command(app), vae::cli::add_mistakes_command(app)};
  return vae::cli::parse_and_run(app, commands, argc, argv, "vaebench-judge", [](const vae::Error& e) {
    std::cerr << "vaebench-judge: error: " << e.what() << "\n";
    return 2;
  });
}
