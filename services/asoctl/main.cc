// asoctl: the admin CLI of ASO. `asoctl help` lists the commands; docs/asoctl.md has every command's help.
// The framework (help, output formats, --watch, confirmation, completion, exit codes) is in cli.*; the
// commands are in transfers_commands.cc, grid_commands.cc, stats_commands.cc and admin_commands.cc.
#include "services/asoctl/cli.h"
#include "services/asoctl/commands.h"

int main(int argc, char** argv) {
  aso::asoctl::Cli cli;
  aso::asoctl::AddTransferCommands(cli);
  aso::asoctl::AddGridCommands(cli);
  aso::asoctl::AddStatsCommands(cli);
  aso::asoctl::AddAdminCommands(cli);
  return cli.Main(argc, argv);
}
