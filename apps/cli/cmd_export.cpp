// qengine export MODEL OUT: re-write a model through qengine's own exporter (optionally with a
// new input shape, optionally after qengine's graph optimizations).
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "frontends/onnx/onnx_export.h"

namespace qe::cli {

namespace {

struct ExportArgs {
  std::string model;
  std::string output;
  std::vector<std::string> input_shapes;
  bool keep_batch = false;
  bool optimized = false;
  bool json = false;
  bool quiet = false;
};

int run_export(const ExportArgs& a) {
  OpenModelOptions mo;
  mo.input_shape_flags = a.input_shapes;
  mo.simulate = true;  // the file keeps its quantizers; integer ops have no ONNX form
  auto m = open_model(a.model, mo);
  if (!m.is_ok()) return report_error(m.status());
  Graph g = a.optimized ? m->session->graph() : m->imported;
  if (a.keep_batch) {
    for (ValueId v : g.inputs()) {
      Value& val = g.value(v);
      if (val.shape.rank() == 0) continue;
      val.shape[0] = kUnknownDim;
      val.dim_params.resize(val.shape.rank());
      val.dim_params[0] = "batch";
    }
  }
  Status st = export_onnx_file(g, a.output);
  if (!st.is_ok()) return report_error(st.with_context(a.output + ": "));
  if (a.json) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(a.output, ec);
    nlohmann::json j = {{"model", a.model},  {"output", a.output},        {"bytes", ec ? 0 : bytes},
                        {"nodes", g.num_live_nodes()}, {"optimized", a.optimized}, {"keep_batch", a.keep_batch}};
    std::cout << j.dump() << "\n";
  } else if (!a.quiet) {
    std::cout << "wrote " << a.output << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_export_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Write a model back to ONNX through qengine's exporter");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("output", args->output, "Output ONNX file (written atomically)")->required();
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->add_flag("--keep-batch", args->keep_batch, "Keep the first input dimension symbolic ('batch')");
  cmd->add_flag("--optimized", args->optimized, "Export after qengine's graph optimizations (folding, fusion)");
  cmd->add_flag("--json", args->json, "Print one JSON object (output, bytes, nodes)");
  cmd->add_flag("--quiet", args->quiet, "Print nothing on success");
  cmd->callback([args, &exit_code] { exit_code = run_export(*args); });
}

}  // namespace qe::cli
