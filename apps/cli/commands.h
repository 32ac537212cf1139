// Each subcommand registers itself on the CLI11 app and runs through a callback that stores
// its exit code (CLI11 callbacks cannot return one).
#pragma once

#include <CLI/CLI.hpp>

namespace qe::cli {

void add_info_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_eval_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_export_command(CLI::App& app, int& exit_code);
void add_calibrate_command(CLI::App& app, int& exit_code);
void add_mixed_command(CLI::App& app, int& exit_code);
// `qengine completion bash`: a completion script made from the command tree.
void add_completion_command(CLI::App& app, int& exit_code);
// Hidden: every command's --help as Markdown, for docs/cli.md (scripts/update-cli-docs.sh).
void add_help_markdown_command(CLI::App& app, int& exit_code);

}  // namespace qe::cli
