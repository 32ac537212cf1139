// qengine info MODEL [--explain]: interface, op histogram, size, MACs, chosen kernels.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "engine/model_stats.h"

namespace qe::cli {

namespace {

struct InfoArgs {
  OpenModelOptions open;  // --simulate, --requant
  std::string model;
  bool explain = false;
  bool json = false;
  bool quiet = false;  // info has no progress and reports the lowering itself: accepted for scripts' sake
  int batch = 1;
  int threads = 0;
  std::vector<std::string> input_shapes;
};

std::string describe_value(const Value& v) {
  std::string s = std::string(dtype_name(v.dtype)) + " [";
  for (size_t d = 0; d < v.shape.rank(); ++d) {
    if (d) s += ",";
    if (v.shape[d] >= 0) s += std::to_string(v.shape[d]);
    else s += d < v.dim_params.size() && !v.dim_params[d].empty() ? v.dim_params[d] : "?";
  }
  return s + "]";
}

int run_info(const InfoArgs& a) {
  OpenModelOptions mo = a.open;
  mo.quiet = true;  // info reports the lowering itself
  mo.input_shape_flags = a.input_shapes;
  mo.threads = a.threads;
  auto m = open_model(a.model, mo);
  if (!m.is_ok()) return report_error(m.status());
  const Graph& g = m->imported;
  auto shapes = concrete_input_shapes(g, a.batch);
  if (!shapes.is_ok()) return report_error(shapes.status());
  auto spec = m->session->specialized_graph(*shapes);
  if (!spec.is_ok()) return report_error(spec.status());
  ModelStats imported_stats = compute_model_stats(g);
  ModelStats run_stats = compute_model_stats(*spec);
  std::error_code ec;
  auto file_size = std::filesystem::file_size(a.model, ec);

  nlohmann::json j;
  j["model"] = a.model;
  j["file_bytes"] = ec ? 0 : file_size;
  j["opset"] = g.opset;
  for (ValueId v : g.inputs()) j["inputs"].push_back({{"name", g.value(v).name}, {"type", describe_value(g.value(v))}});
  for (ValueId v : g.outputs()) j["outputs"].push_back({{"name", g.value(v).name}, {"type", describe_value(g.value(v))}});
  j["params"] = imported_stats.params;
  j["param_bytes"] = imported_stats.param_bytes;
  j["macs"] = run_stats.macs;
  j["batch"] = a.batch;
  j["op_histogram"] = imported_stats.op_histogram;
  j["nodes"] = g.num_live_nodes();
  j["nodes_after_optimization"] = spec->num_live_nodes();

  Result<PlanInfo> plan = PlanInfo{};
  if (a.explain) {
    plan = m->session->explain(*shapes);
    if (!plan.is_ok()) return report_error(plan.status());
    for (const auto& s : plan->steps) {
      nlohmann::json step = {{"node", s.node_name}, {"op", s.op}, {"kernel", s.kernel}};
      for (const auto& [cand, why] : s.declined) step["declined"].push_back({{"kernel", cand}, {"reason", why}});
      j["plan"].push_back(step);
    }
    j["arena_bytes"] = plan->arena_bytes;
    j["workspace_bytes"] = plan->workspace_bytes;
  }
  if (m->integer) {
    const IntegerLoweringReport& r = m->lowering;
    j["integer"] = {{"integer_ops", r.integer_nodes}, {"lowered_ops", r.lowered_nodes}, {"entries", r.entries},
                    {"exits", r.exits}};
    for (const auto& f : r.float_nodes) j["integer"]["float_nodes"].push_back({{"node", f.node}, {"reason", f.reason}});
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "model:    " << a.model << " (" << format_count(static_cast<double>(j["file_bytes"].get<uint64_t>())) << "B)\n";
  std::cout << "opset:    " << g.opset << "\n";
  for (ValueId v : g.inputs()) std::cout << "input:    " << g.value(v).name << " " << describe_value(g.value(v)) << "\n";
  for (ValueId v : g.outputs()) std::cout << "output:   " << g.value(v).name << " " << describe_value(g.value(v)) << "\n";
  std::cout << "params:   " << format_count(static_cast<double>(imported_stats.params)) << " ("
            << format_count(static_cast<double>(imported_stats.param_bytes)) << "B of constants)\n";
  std::cout << "MACs:     " << format_count(static_cast<double>(run_stats.macs)) << " at batch " << a.batch << "\n";
  std::cout << "nodes:    " << g.num_live_nodes() << " imported, " << spec->num_live_nodes() << " after optimization\n";
  std::cout << "ops:     ";
  for (const auto& [op, count] : imported_stats.op_histogram) std::cout << " " << op << " x" << count;
  std::cout << "\n";
  if (m->integer) {
    std::cout << "execution: integer kernels (--simulate for the fake-quant simulation)\n";
  } else if (has_quantizers(g)) {
    std::cout << "execution: fake-quant simulation (quantized Conv/Gemm/MatMul summed exactly in integers)\n";
  }
  if (m->integer && a.explain) std::cout << format_lowering_report(m->lowering);
  if (a.explain) {
    std::cout << "plan (arena " << format_count(static_cast<double>(plan->arena_bytes)) << "B, workspace "
              << format_count(static_cast<double>(plan->workspace_bytes)) << "B):\n";
    for (const auto& s : plan->steps) {
      std::cout << "  " << s.op << " '" << s.node_name << "' -> " << s.kernel << "\n";
      for (const auto& [cand, why] : s.declined) std::cout << "      not " << cand << ": " << why << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Show a model's inputs, outputs, ops, size and MACs");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_flag("--explain", args->explain, "Also print the kernel chosen for every node and why others declined");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--quiet", args->quiet, "No warnings (info prints none; accepted like on every command)");
  cmd->add_option("--batch", args->batch, "Batch size for MACs and the plan")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)")->check(CLI::Range(0, 1024));
  add_integer_flags(*cmd, args->open);
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->callback([args, &exit_code] { exit_code = run_info(*args); });
}

}  // namespace qe::cli
