// qengine: load, run, evaluate and benchmark ONNX models on the CPU.
#include <iostream>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "engine/core/temp_files.h"
#include "engine/session.h"
#include "qengine_version.h"

int main(int argc, char** argv) {
  // Ctrl-C or a kill while outputs are being written must not leave half-written files behind.
  qe::remove_temp_files_on_termination_signals();
  CLI::App app{"qengine: a native inference and quantization engine for ONNX models", "qengine"};
  app.require_subcommand(1);
  // Usage errors are one line like every other error, with the fix suggested.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("qengine: error: ") + e.what() + " (see --help)\n";
  });
  app.set_version_flag("--version", std::string("qengine ") + QENGINE_VERSION_STRING);
  // Accepted before or after the command (`qengine calibrate ... --max-memory 2G`): subcommands
  // hand options they do not know to the top level.
  app.fallthrough();
  app.add_option_function<std::string>(
         "--max-memory",
         [](const std::string& text) {
           auto bytes = qe::cli::parse_byte_size(text);
           if (!bytes.is_ok()) throw CLI::ValidationError("--max-memory", bytes.status().message());
           qe::set_default_max_arena_bytes(*bytes);
         },
         "Memory cap of every execution plan (arena and kernel workspace), e.g. 512M or 4G; default 16G")
      ->trigger_on_parse();
  int exit_code = qe::cli::kExitOk;
  qe::cli::add_info_command(app, exit_code);
  qe::cli::add_run_command(app, exit_code);
  qe::cli::add_eval_command(app, exit_code);
  qe::cli::add_bench_command(app, exit_code);
  qe::cli::add_calibrate_command(app, exit_code);
  qe::cli::add_mixed_command(app, exit_code);
  qe::cli::add_export_command(app, exit_code);
  qe::cli::add_completion_command(app, exit_code);
  qe::cli::add_help_markdown_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : qe::cli::kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "qengine: error: out of memory (try a smaller --batch or fewer --samples)\n";
    return qe::cli::kExitRuntime;
  } catch (const std::exception& e) {
    // Nothing user-caused should get here (those are Status errors): a failure while running.
    std::cerr << "qengine: error: " << e.what() << "\n";
    return qe::cli::kExitRuntime;
  }
  return exit_code;
}
