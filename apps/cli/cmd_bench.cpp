// qengine bench MODEL: latency over repeated runs after warm-up, on random inputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"

namespace qe::cli {

namespace {

struct BenchArgs {
  std::string model;
  int batch = 1;
  int threads = 0;
  int runs = 50;
  int warmup = 5;
  double max_seconds = 20.0;
  bool json = false;
  bool profile = false;
  std::vector<std::string> input_shapes;
};

Tensor random_input(DType dtype, const Shape& shape, uint64_t seed) {
  Tensor t(dtype, shape);
  std::mt19937_64 rng(seed);
  if (dtype == DType::kF32) {
    std::normal_distribution<float> dist(0.f, 1.f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) write_element_from_double(t.raw(), dtype, i, static_cast<double>(rng() % 4));
  }
  return t;
}

int run_bench(const BenchArgs& a) {
  OpenModelOptions mo;
  mo.input_shape_flags = a.input_shapes;
  mo.threads = a.threads;
  auto m = open_model(a.model, mo);
  if (!m.is_ok()) return report_error(m.status());
  auto shapes = concrete_input_shapes(m->imported, a.batch);
  if (!shapes.is_ok()) return report_error(shapes.status());
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < shapes->size(); ++i) {
    inputs.push_back(random_input(m->imported.value(m->imported.inputs()[i]).dtype, (*shapes)[i], 1234 + i));
  }
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < std::max(1, a.warmup); ++i) {
    auto r = m->session->run(inputs);
    if (!r.is_ok()) return report_error(r.status());
  }
  std::vector<double> ms;
  auto start = clock::now();
  for (int i = 0; i < a.runs; ++i) {
    auto t0 = clock::now();
    auto r = m->session->run(inputs);
    auto t1 = clock::now();
    if (!r.is_ok()) return report_error(r.status());
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (std::chrono::duration<double>(t1 - start).count() > a.max_seconds && ms.size() >= 5) break;
  }
  if (a.profile) {
    // Time between consecutive observer calls is the node that just ran (observers cost ~nothing).
    std::map<std::string, double> per_node, per_op;
    std::map<std::string, std::string> node_op;
    int profiled = 0;
    for (int i = 0; i < std::max(5, a.runs / 2); ++i, ++profiled) {
      auto last = clock::now();
      auto r = m->session->run_observed(inputs, [&](const Graph& g, ValueId v, const TensorView&) {
        const Value& val = g.value(v);
        if (val.producer == kNoNode || g.node(val.producer).outputs[0] != v) return;  // once per node
        auto now = clock::now();
        const Node& n = g.node(val.producer);
        double us = std::chrono::duration<double, std::micro>(now - last).count();
        per_node[n.name] += us;
        per_op[std::string(op_name(n.op))] += us;
        node_op[n.name] = std::string(op_name(n.op));
        last = now;
      });
      if (!r.is_ok()) return report_error(r.status());
    }
    std::vector<std::pair<double, std::string>> ops, nodes;
    double total = 0;
    for (auto& [k, v] : per_op) { ops.push_back({v / profiled, k}); total += v / profiled; }
    for (auto& [k, v] : per_node) nodes.push_back({v / profiled, k});
    std::sort(ops.rbegin(), ops.rend());
    std::sort(nodes.rbegin(), nodes.rend());
    std::fprintf(stderr, "profile (%d runs, mean us per run; total %.1f us)\n", profiled, total);
    for (auto& [us, op] : ops) std::fprintf(stderr, "  %-22s %9.1f us  %5.1f%%\n", op.c_str(), us, 100 * us / total);
    std::fprintf(stderr, "slowest nodes:\n");
    for (size_t i = 0; i < std::min<size_t>(15, nodes.size()); ++i) {
      std::fprintf(stderr, "  %-40s %-18s %9.1f us\n", nodes[i].second.c_str(), node_op[nodes[i].second].c_str(), nodes[i].first);
    }
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) { return sorted[static_cast<size_t>(std::round(p * (sorted.size() - 1)))]; };
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= ms.size();
  double var = 0;
  for (double v : ms) var += (v - mean) * (v - mean);
  double stdev = ms.size() > 1 ? std::sqrt(var / (ms.size() - 1)) : 0.0;
  double median = pct(0.5);
  nlohmann::json j = {{"model", a.model},
                      {"batch", a.batch},
                      {"threads", m->session->num_threads()},
                      {"runs", ms.size()},
                      {"median_ms", median},
                      {"min_ms", sorted.front()},
                      {"max_ms", sorted.back()},
                      {"mean_ms", mean},
                      {"p90_ms", pct(0.9)},
                      {"stdev_ms", stdev},
                      {"images_per_s", a.batch * 1000.0 / median}};
  if (a.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s: batch %d, %d threads, %zu runs\n", a.model.c_str(), a.batch, m->session->num_threads(), ms.size());
    std::printf("latency ms: median %.3f  min %.3f  max %.3f  mean %.3f  p90 %.3f  stdev %.3f\n", median,
                sorted.front(), sorted.back(), mean, pct(0.9), stdev);
    std::printf("throughput: %.1f images/s\n", a.batch * 1000.0 / median);
  }
  return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure a model's latency (median and spread over repeated runs)");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--batch", args->batch, "Batch size")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--runs", args->runs, "Timed runs (default 50)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--warmup", args->warmup, "Untimed runs first (default 5)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--max-seconds", args->max_seconds, "Stop timing after this long (default 20)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--profile", args->profile, "Also print time per op type and the slowest nodes (stderr)");
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->callback([args, &exit_code] { exit_code = run_bench(*args); });
}

}  // namespace qe::cli
