// vaebench: validate and benchmark VAE backends against a double-precision reference.
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "common/build_info.h"
#include "common/error.h"
#include "dist/launcher.h"

int main(int argc, char** argv) {
  vae::dist::set_program_arguments(argc, argv);  // --nproc starts the ranks with them
  CLI::App app{"vaebench " VAE_VERSION ": VAE backends checked against a double-precision reference, then timed"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vaebench " VAE_VERSION);
  const std::vector<vae::cli::Subcommand> commands = {
      vae::cli::add_info_command(app),     vae::cli::add_backends_command(app), vae::cli::add_validate_command(app),
      vae::cli::add_train_command(app),    vae::cli::add_report_command(app),   vae::cli::add_cases_command(app),
      vae::cli::add_mistakes_command(app), vae::cli::add_judge_command(app)};
  return vae::cli::parse_and_run(app, commands, argc, argv, "vaebench", [](const vae::Error& e) {
    // A data-parallel rank says which one it is (rank 0 speaks for the run on stdout).
    const char* rank = std::getenv("RANK");
    const char* world = std::getenv("WORLD_SIZE");
    const std::string who = rank && world && std::string(world) != "1" ? std::string(" [rank ") + rank + "]" : "";
    std::cerr << "vaebench" << who << ": error: " << e.what() << "\n";
    return dynamic_cast<const vae::dist::PeerLostError*>(&e) ? vae::dist::kExitPeerLost : 2;
  });
}
