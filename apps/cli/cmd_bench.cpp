// qengine bench MODEL: latency over repeated runs after warm-up, on random inputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "apps/cli/commands.h"
#include "apps/cli/bench_variants.h"
#include "apps/cli/common.h"
#include "apps/cli/progress.h"

namespace qe::cli {

namespace {

struct BenchArgs {
  OpenModelOptions open;  // --simulate, --requant
  std::string model;
  int batch = 1;
  int threads = 0;
  int runs = 50;
  int warmup = 5;
  double max_seconds = 20.0;
  bool json = false;
  bool quiet = false;
  bool profile = false;
  std::vector<std::string> input_shapes;
  std::vector<std::string> compare;  // float, int8 (= w8a8), w4a8, ...
};

struct Timing {
  std::vector<double> ms;  // per timed run
};

// `label` names the progress bar (warm-up and timed runs).
Result<Timing> time_runs(Session& s, const std::vector<Tensor>& inputs, const BenchArgs& a, const std::string& label) {
  using clock = std::chrono::steady_clock;
  const int warmup = std::max(1, a.warmup);
  ProgressBar bar(label, warmup + a.runs, !a.json && !a.quiet, "run");
  for (int i = 0; i < warmup; ++i) {
    auto r = s.run(inputs);
    if (!r.is_ok()) return r.status();
    bar.add(1);
  }
  Timing t;
  auto start = clock::now();
  for (int i = 0; i < a.runs; ++i) {
    auto t0 = clock::now();
    auto r = s.run(inputs);
    auto t1 = clock::now();
    if (!r.is_ok()) return r.status();
    t.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    bar.add(1);
    if (std::chrono::duration<double>(t1 - start).count() > a.max_seconds && t.ms.size() >= 5) break;
  }
  return t;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

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

// --compare: the float model and quantized variants of it, timed one after the other in this
// run. Variants are calibrated on 16 random inputs: their latency is real, their accuracy is
// not (use `qengine calibrate` + `qengine eval` for that).
int run_compare(const BenchArgs& a, OpenedModel& m, const std::vector<Tensor>& inputs) {
  if (m.integer || has_quantizers(m.imported)) {
    return report_error(invalid_argument("--compare needs a float model; '", a.model, "' is already quantized (give the float model it came from)"));
  }
  std::vector<Tensor> calib;
  for (int i = 0; i < 16; ++i) {
    Shape s = inputs[0].shape();
    if (s.rank() > 0) s[0] = 1;
    calib.push_back(random_input(inputs[0].dtype(), s, 99 + static_cast<uint64_t>(i)));
  }
  struct Row {
    std::string name;
    double median_ms = 0;
    std::string execution;
  };
  std::vector<Row> rows;
  double float_ms = 0;
  for (const std::string& v : a.compare) {
    std::unique_ptr<Session> owned;
    Session* s = m.session.get();
    std::string execution = "float";
    if (v != "float") {
      auto bits = parse_variant_bits(v);
      if (!bits.is_ok()) return report_error(bits.status());
      auto q = quantize_for_latency(m.imported, bits->first, bits->second, calib);
      if (!q.is_ok()) return report_error(q.status().with_context(a.model + ": " + v + ": "));
      execution = a.open.simulate ? "fake-quant simulation" : "integer kernels";
      OpenModelOptions vo = a.open;
      vo.threads = a.threads;
      vo.quiet = true;  // variants are made here, not read from a file: nothing to tell the user
      auto created = create_run_session(std::move(q).value(), a.model + ": " + v, vo);
      if (!created.is_ok()) return report_error(created.status());
      owned = std::move(created).value();
      s = owned.get();
    }
    auto t = time_runs(*s, inputs, a, v);
    if (!t.is_ok()) return report_error(t.status().with_context(v + ": "));
    rows.push_back({v, median_of(t->ms), execution});
    if (v == "float") float_ms = rows.back().median_ms;
  }
  nlohmann::json j = {{"model", a.model}, {"batch", a.batch}, {"threads", m.session->num_threads()}};
  if (!a.json) {
    std::printf("%s: batch %d, %d threads\n", a.model.c_str(), a.batch, m.session->num_threads());
    std::printf("%-8s %12s %12s  %s\n", "variant", "median ms", "vs float", "execution");
  }
  for (const Row& r : rows) {
    const double speedup = float_ms > 0 ? float_ms / r.median_ms : 0.0;
    j["variants"].push_back({{"variant", r.name}, {"median_ms", r.median_ms}, {"speedup_vs_float", speedup},
                             {"execution", r.execution}});
    if (!a.json) std::printf("%-8s %12.3f %11.2fx  %s\n", r.name.c_str(), r.median_ms, speedup, r.execution.c_str());
  }
  if (a.json) std::cout << j.dump() << "\n";
  return kExitOk;
}

int run_bench(const BenchArgs& a) {
  OpenModelOptions mo = a.open;
  mo.quiet = a.quiet;
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
  if (!a.compare.empty()) return run_compare(a, *m, inputs);
  auto timing = time_runs(*m->session, inputs, a, "bench");
  if (!timing.is_ok()) return report_error(timing.status());
  std::vector<double> ms = timing->ms;
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
  add_integer_flags(*cmd, args->open);
  cmd->add_option("--runs", args->runs, "Timed runs (default 50)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--warmup", args->warmup, "Untimed runs first (default 5)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--max-seconds", args->max_seconds, "Stop timing after this long (default 20)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--quiet", args->quiet, "No progress bar or warnings");
  cmd->add_flag("--profile", args->profile, "Also print time per op type and the slowest nodes (stderr)");
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->add_option("--compare", args->compare,
                  "Time the float model and quantized variants side by side, e.g. float,int8,w4a8 (wNaM: N-bit "
                  "weights, M-bit activations; int8 = w8a8); speed-ups are relative to float")
      ->delimiter(',');
  cmd->callback([args, &exit_code] { exit_code = run_bench(*args); });
}

}  // namespace qe::cli
