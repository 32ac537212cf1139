// Shared pieces of the qengine subcommands: opening a model, input shapes, error reporting.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engine/data/image_folder.h"
#include "engine/session.h"
#include "graph/graph.h"
#include "quant/lower_integer.h"

namespace qe::cli {

// "512M", "4G", "65536", "1.5G" (binary units K, M, G, T; an optional trailing B or iB) → bytes.
Result<size_t> parse_byte_size(const std::string& text);

// Exit codes: 0 ok, 1 the job failed while running, 2 bad usage or bad input.
constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitBadInput = 2;

// Prints "qengine: error: <message>" on one line and returns the exit code for the status:
// kInternal and kOutOfRange (a broken invariant, a size past a limit) are failures while
// running (1); every other code is input the user can fix (2): a missing or unreadable file,
// a malformed model or rule file, a bad flag value, an unsupported op, an empty folder.
int report_error(const Status& status);
void warn(const std::string& message);

// scan_image_folder, with the expected layout added to its errors.
Result<Dataset> open_image_folder(const std::string& root);

// "input=1,3,224,224" flags → name → shape.
Result<std::map<std::string, Shape>> parse_input_shape_flags(const std::vector<std::string>& flags);

// Applies --input-shape overrides to the graph inputs (rank must match).
Status apply_input_shape_flags(Graph& g, const std::string& path, const std::vector<std::string>& flags);

struct OpenModelOptions {
  std::vector<std::string> input_shape_flags;
  int threads = 0;
  bool optimize = true;
  // A model with quantizers runs on the integer kernels unless `simulate` (fake-quant in float).
  bool simulate = false;
  kernels::RequantMode requant = kernels::RequantMode::kFloat;
  bool quiet = false;  // no warning about nodes left in float
};

struct OpenedModel {
  std::string path;
  Graph imported;  // as read from the file, input-shape overrides applied
  std::unique_ptr<Session> session;
  bool integer = false;  // quantized regions lowered to integer ops
  IntegerLoweringReport lowering;
};

// Adds the --simulate and --requant flags of the commands that run models.
void add_integer_flags(CLI::App& cmd, OpenModelOptions& o);

Result<OpenedModel> open_model(const std::string& path, const OpenModelOptions& options);

// The session that runs `g` as `options` say: a graph with quantizers is lowered to integer ops
// (unless options.simulate), with a one-line warning about nodes left in float; `what` names the
// model in messages. The lowering report and whether lowering happened go to the out-parameters.
Result<std::unique_ptr<Session>> create_run_session(Graph g, const std::string& what, const OpenModelOptions& options,
                                                    IntegerLoweringReport* lowering = nullptr, bool* integer = nullptr);

// Concrete shapes for the graph inputs: symbolic dims take `batch` in position 0, 1 elsewhere.
Result<std::vector<Shape>> concrete_input_shapes(const Graph& g, int64_t batch);

std::string format_count(double v);  // 11.2M, 1.82G

}  // namespace qe::cli
