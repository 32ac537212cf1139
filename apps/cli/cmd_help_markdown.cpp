// qengine help-markdown (hidden): the --help text of every command as Markdown. docs/cli.md
// carries it between markers (scripts/update-cli-docs.sh); test_cli_docs fails when they differ,
// so the reference can never drift from the binary.
#include <iostream>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"

namespace qe::cli {

void add_help_markdown_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("help-markdown", "Every command's --help as Markdown (for docs/cli.md)");
  cmd->group("");  // hidden from `qengine --help`
  cmd->callback([&app, cmd, &exit_code] {
    // app.help() would describe the subcommand being run (this one): format the top level directly.
    std::cout << "### `qengine --help`\n\n```\n"
              << app.get_formatter()->make_help(&app, "qengine", CLI::AppFormatMode::Normal) << "```\n";
    for (const CLI::App* sub : app.get_subcommands([cmd](const CLI::App* s) { return s != cmd; })) {
      std::cout << "\n### `qengine " << sub->get_name() << " --help`\n\n```\n" << sub->help("qengine") << "```\n";
    }
    exit_code = kExitOk;
  });
}

}  // namespace qe::cli
