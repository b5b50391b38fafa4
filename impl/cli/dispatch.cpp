// parse_and_run (commands.h): the command line of vaebench and vaebench-judge, parsed and dispatched.
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"

namespace vae::cli {

int parse_and_run(CLI::App& app, const std::vector<Subcommand>& commands, int argc, char** argv,
                  const std::string& program, const std::function<int(const Error&)>& on_error) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const Subcommand& command : commands)
      if (command.app->parsed()) return command.run();
  } catch (const Error& e) {
    return on_error(e);
  } catch (const std::exception& e) {
    std::cerr << program << ": internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}

}  // namespace vae::cli
