// qengine mixed MODEL CALIB_DIR --size R | --bops R | --latency R: HAWQ-V3 mixed precision.
// Per-layer sensitivity (Hessian trace by Hutchinson × weight quantization error, or the output
// KL when only that layer is quantized) → an integer program over the bit choices under the
// budgets → the choice written as a rule file, calibrated, exported as QONNX, measured (size,
// BOPS, batch-1 speed-up of the integer kernels over float, top-1 on --val), optionally against
// random allocations with the same budgets.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/cli/accuracy.h"
#include "apps/cli/calib_batches.h"
#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "apps/cli/mixed_support.h"
#include "apps/cli/output_files.h"
#include "apps/cli/preprocessing_flags.h"
#include "engine/core/text_file.h"
#include "engine/data/image_folder.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "quant/mixed/latency_table.h"
#include "quant/mixed/mixed_rules.h"
#include "quant/policy.h"
#include "quant/prepare.h"
#include "quant/quantize_graph.h"
#include "quant/rules.h"

namespace qe::cli {

namespace {

namespace fs = std::filesystem;

struct MixedArgs {
  std::string model, calib_dir, out_dir, config, val_dir;
  int64_t val_limit = -1;
  std::string size, bops, latency;  // budgets ("" = none)
  std::string bits = "4,8";
  int pin_bits = 8;
  bool no_pin = false;
  bool weights_only = false;
  int uniform = 0;  // --uniform B: every free layer at B, no optimisation (a reference row)
  std::string sensitivity = "hessian";
  int64_t samples = 1000;
  int64_t hessian_samples = 256;
  int hessian_batch = 32;
  int hutchinson_iterations = 200;
  int64_t kl_samples = 64;
  int random = 0;
  uint64_t seed = 1;
  std::string sensitivity_file;
  std::string latency_cache;
  int bench_runs = 30;
  std::vector<std::string> input_shapes;
  int batch = 16;
  int threads = 0;
  int workers = 2;
  bool json = false;
  bool quiet = false;
  PreprocessingFlags pre;
};

// The canonical graph with batch-1 input shapes: the MACs of the cost model. Node names are
// those of the dynamic-batch canonical graph.
Result<Graph> batch1_graph(const Graph& model, const std::string& policy, int threads) {
  PrepareOptions po;
  po.keep_batch_norm = policy == "finn";
  po.num_threads = threads;
  for (ValueId v : model.inputs()) {
    const Value& in = model.value(v);
    if (in.is_constant()) continue;
    Shape s = in.shape;
    for (size_t i = 0; i < static_cast<size_t>(s.rank()); ++i) {
      if (s[i] < 0) s[i] = 1;
    }
    po.input_shapes[in.name] = s;
  }
  return prepare_float_graph(model, po);
}

double median_ms(Session& s, const std::vector<Tensor>& inputs, int runs, ProgressBar& bar) {
  for (int i = 0; i < 3; ++i) (void)s.run(inputs);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!s.run(inputs).is_ok()) return 0;
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    bar.add(1);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Context {
  explicit Context(const MixedArgs& args) : a(args) {}
  const MixedArgs& a;
  Graph model;  // imported, input shapes applied
  Preprocessing pre;
  std::string base_rules_text;
  std::vector<ComputeLayer> layers;
  std::unique_ptr<CachedBatches> calib;
  std::unique_ptr<CachedBatches> bias_correction;  // calibrate's default: 128 of the calibration images
  std::vector<Sample> val_samples;
  std::vector<std::string> val_classes;
  bool progress = false;  // bars wanted (drawn only on a terminal)
};

int64_t rows_in(const CachedBatches& batches) {
  int64_t n = 0;
  for (const auto& b : batches.batches()) n += b.empty() || b[0].shape().rank() == 0 ? 0 : b[0].shape()[0];
  return n;
}

// `label` names the allocation on its calibration progress bar.
Result<Graph> quantize_with(const Context& c, const std::vector<int>& bits, const std::string& description,
                            const std::string& label, std::string* rule_text) {
  std::vector<LayerBits> lb;
  for (size_t i = 0; i < c.layers.size(); ++i) lb.push_back({c.layers[i].node, bits[i]});
  QE_ASSIGN_OR_RETURN(std::string text, mixed_rule_file_text(c.base_rules_text, lb, description));
  QE_ASSIGN_OR_RETURN(RuleSet rules, parse_rules(text, "mixed rules"));
  const std::string policy = rules.policy.empty() ? "full" : rules.policy;
  if (rule_text) *rule_text = text;
  // One pass over the calibration images and one over the bias-correction ones, unless the
  // rules' algorithms take more passes (then the total is unknown).
  const bool single_pass = rules.algorithms.rounding == WeightRoundingAlgorithm::kNearest &&
                           !rules.algorithms.any_float_transform();
  ProgressBar bar(label,
                  single_pass ? rows_in(*c.calib) + (rules.algorithms.bias_correction ? rows_in(*c.bias_correction) : 0)
                              : 0,
                  c.progress);
  return quantize_graph(c.model, rules, policy, counted_passes(c.calib->passes(), bar),
                        counted_passes(c.bias_correction->passes(), bar), c.a.threads);
}

Status evaluate_row(const Context& c, const Graph& quantized, MixedRow& row) {
  if (c.val_samples.empty()) return Status::ok();
  OpenModelOptions oo;
  oo.threads = c.a.threads;
  oo.quiet = true;
  QE_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, create_run_session(quantized, row.name, oo));
  AccuracyOptions ao;
  ao.batch = c.a.batch;
  ao.workers = c.a.workers;
  ao.progress = c.progress;
  ao.progress_label = "val " + row.name;
  QE_ASSIGN_OR_RETURN(AccuracyResult r, measure_accuracy(*s, quantized, c.val_samples, c.val_classes, c.pre,
                                                         c.a.val_dir, ao));
  row.images = r.images;
  row.top1 = r.images ? 100.0 * static_cast<double>(r.top1) / static_cast<double>(r.images) : 0;
  return Status::ok();
}

int run_mixed(const MixedArgs& a) {
  const bool chatty = !a.json && !a.quiet;
  const auto t_start = std::chrono::steady_clock::now();
  auto say = [&](const std::string& what) {
    if (chatty) std::fprintf(stderr, "[%6.1fs] %s\n",
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(),
                             what.c_str());
  };

  // Flags first: a typo should not wait for the model.
  std::optional<Budget> size, bops, latency;
  if (!a.size.empty()) {
    auto b = parse_budget(BudgetKind::kSize, "--size", a.size);
    if (!b.is_ok()) return report_error(b.status());
    size = *b;
  }
  if (!a.bops.empty()) {
    auto b = parse_budget(BudgetKind::kBops, "--bops", a.bops);
    if (!b.is_ok()) return report_error(b.status());
    bops = *b;
  }
  if (!a.latency.empty()) {
    auto b = parse_budget(BudgetKind::kLatency, "--latency", a.latency);
    if (!b.is_ok()) return report_error(b.status());
    latency = *b;
  }
  auto bit_list = parse_bit_list(a.bits);
  if (!bit_list.is_ok()) return report_error(bit_list.status());
  const std::vector<int>& bits = *bit_list;
  if (a.uniform && (size || bops || latency)) {
    return report_error(invalid_argument("--uniform excludes the budgets (--size, --bops, --latency)"));
  }
  if (!a.uniform && !size && !bops && !latency) {
    return report_error(invalid_argument("give a budget: --size, --bops or --latency (or --uniform BITS)"));
  }
  if (a.uniform && std::find(bits.begin(), bits.end(), a.uniform) == bits.end()) {
    return report_error(invalid_argument("--uniform ", a.uniform, " is not one of --bits ", a.bits));
  }
  if (!a.no_pin && std::find(bits.begin(), bits.end(), a.pin_bits) == bits.end()) {
    return report_error(invalid_argument("--pin-bits ", a.pin_bits, " is not one of --bits ", a.bits));
  }
  if (a.weights_only && a.sensitivity == "kl") {
    return report_error(invalid_argument("--weights-only applies to --sensitivity hessian; the KL already quantizes weights alone"));
  }

  Context c(a);
  c.progress = chatty;
  if (!a.config.empty()) {
    auto text = read_text_file(a.config);
    if (!text.is_ok()) return report_error(text.status());
    c.base_rules_text = *text;
  }
  // Without a base file, the plan the sensitivity reads is the one the written rule files
  // describe (per-channel weights, no equalization: mixed_rule_file_text's defaults).
  auto base_text = c.base_rules_text.empty() ? mixed_rule_file_text("", {}, "") : Result<std::string>(c.base_rules_text);
  if (!base_text.is_ok()) return report_error(base_text.status());
  auto parsed = parse_rules(*base_text, a.config.empty() ? "mixed rules" : a.config);
  if (!parsed.is_ok()) return report_error(parsed.status());
  RuleSet base = std::move(parsed).value();
  const std::string policy = base.policy.empty() ? "full" : base.policy;

  auto imported = import_onnx_file(a.model);
  if (!imported.is_ok()) return report_error(imported.status());
  c.model = std::move(imported).value();
  if (Status st = apply_input_shape_flags(c.model, a.model, a.input_shapes); !st.is_ok()) return report_error(st);
  auto pre = resolve_preprocessing(a.model, c.model, a.pre, a.quiet);
  if (!pre.is_ok()) return report_error(pre.status());
  c.pre = *pre;
  PrepareOptions po;
  po.keep_batch_norm = policy == "finn";
  po.num_threads = a.threads;
  auto prepared = prepare_float_graph(c.model, po);
  if (!prepared.is_ok()) return report_error(prepared.status().with_context(a.model + ": "));
  const Graph& float_graph = *prepared;

  // Layers, their costs and the plan's weight quantizers.
  auto shaped = batch1_graph(c.model, policy, a.threads);
  if (!shaped.is_ok()) return report_error(shaped.status().with_context(a.model + ": "));
  auto config = resolve_rules(float_graph, base);
  if (!config.is_ok()) return report_error(config.status());
  auto plan = make_quant_plan(float_graph, *config, policy);
  if (!plan.is_ok()) return report_error(plan.status().with_context(a.model + ": "));
  auto all_layers = list_compute_layers(*shaped);
  if (!all_layers.is_ok()) return report_error(all_layers.status().with_context(a.model + ": "));
  for (const ComputeLayer& l : *all_layers) {
    if (weight_quantizer_of(float_graph, *plan, l.node).is_ok()) {
      c.layers.push_back(l);
    } else if (!a.quiet) {
      warn("layer '" + l.node + "' has no weight quantizer; it is left out of the allocation");
    }
  }
  if (c.layers.size() < 2) {
    return report_error(invalid_argument(a.model, ": fewer than two quantized compute layers to choose bits for",
                                         a.config.empty() ? "" : " (do --config's rules skip layers?)"));
  }

  // Data.
  auto dataset = open_image_folder(a.calib_dir);
  if (!dataset.is_ok()) return report_error(dataset.status());
  const std::vector<Sample> calib_samples = pick_samples(dataset->samples, a.samples);
  say("decoding " + std::to_string(calib_samples.size()) + " calibration images");
  auto calib = decode_once(calib_samples, c.pre, float_graph, a.batch, a.workers, int64_t{4} << 30);
  if (!calib.is_ok()) return report_error(calib.status().with_context(a.calib_dir + ": "));
  if (!*calib) return report_error(invalid_argument(a.calib_dir, ": the calibration images need more than 4 GiB decoded; use --samples"));
  c.calib = std::move(calib).value();
  if (c.calib->batches().empty()) {
    return report_error(invalid_argument(a.calib_dir, ": no calibration image could be read (JPEG, PNG or BMP files expected)"));
  }
  {
    // The same images `qengine calibrate` corrects biases on, so that --config reproduces the result.
    constexpr int64_t kCalibrateBiasCorrectionSamples = 128;
    auto bc = decode_once(pick_samples(calib_samples, kCalibrateBiasCorrectionSamples), c.pre, float_graph, a.batch,
                          a.workers, int64_t{4} << 30);
    if (!bc.is_ok()) return report_error(bc.status().with_context(a.calib_dir + ": "));
    c.bias_correction = std::move(bc).value();
  }
  if (!a.val_dir.empty()) {
    auto val = open_image_folder(a.val_dir);
    if (!val.is_ok()) return report_error(val.status());
    c.val_samples = pick_samples(val->samples, a.val_limit);
    c.val_classes = val->classes;
  }

  const std::string out_dir = !a.out_dir.empty() ? a.out_dir : model_stem(a.model) + "-mixed";
  auto outputs = OutputFileSet::open(out_dir);
  if (!outputs.is_ok()) return report_error(outputs.status());

  // Sensitivity: cached in --sensitivity-file when given (it takes minutes for ResNet18).
  SensitivityKey key;
  key.model = fs::path(a.model).filename().string();
  for (const ComputeLayer& l : c.layers) key.layers.push_back(l.node);
  key.bits = bits;
  key.hessian_samples = a.hessian_samples;
  key.hessian_batch = a.hessian_batch;
  key.kl_samples = a.kl_samples;
  key.hutchinson_max_iterations = a.hutchinson_iterations;
  key.seed = a.seed;
  const bool use_kl = a.sensitivity == "kl";
  key.hessian = !use_kl;
  key.activation_term = !a.weights_only;
  std::optional<SensitivityReport> sensitivity;
  if (!a.sensitivity_file.empty() && fs::exists(a.sensitivity_file)) {
    std::string why;
    try {
      std::ifstream in(a.sensitivity_file);
      sensitivity = sensitivity_from_json(nlohmann::json::parse(in), key, &why);
    } catch (const std::exception& e) {
      why = std::string("it is not JSON (") + e.what() + ")";
    }
    if (!sensitivity && !a.quiet) warn(a.sensitivity_file + ": not reused: " + why + "; measuring again");
    if (sensitivity) say("sensitivity read from " + a.sensitivity_file);
  }
  if (!sensitivity && a.uniform) {
    // A uniform row needs no sensitivity; the report then shows zeros.
    SensitivityReport zeros;
    for (const ComputeLayer& l : c.layers) {
      LayerSensitivity s;
      s.layer = l.node;
      s.params = l.params;
      for (int b : bits) s.omega[b] = s.output_kl[b] = s.weight_error[b] = 0;
      zeros.layers.push_back(s);
    }
    sensitivity = std::move(zeros);
  }
  if (!sensitivity) {
    // Labelled batches for the Hessian (the calibration folder's classes are the model's).
    std::vector<LabelledBatch> hessian_batches;
    if (!use_kl) {  // the KL needs neither labels nor the backward pass (ViT's LayerNorm has none)
      const std::vector<Sample> hs = pick_samples(calib_samples, a.hessian_samples);
      auto decoded = decode_once(hs, c.pre, float_graph, a.hessian_batch, a.workers, int64_t{4} << 30);
      if (!decoded.is_ok()) return report_error(decoded.status());
      for (size_t i = 0; *decoded && i < (*decoded)->batches().size(); ++i) {
        LabelledBatch lb;
        lb.inputs = (*decoded)->batches()[i];
        const auto& labels = (*decoded)->labels()[i];
        if (lb.inputs.empty() || lb.inputs[0].shape()[0] != static_cast<int64_t>(labels.size())) continue;  // padded
        lb.labels.assign(labels.begin(), labels.end());
        hessian_batches.push_back(std::move(lb));
      }
      if (hessian_batches.empty()) return report_error(invalid_argument(a.calib_dir, ": no labelled batch for the Hessian; use --sensitivity kl"));
    }
    std::vector<std::vector<Tensor>> kl_inputs;
    {
      const std::vector<Sample> ks = pick_samples(calib_samples, a.kl_samples);
      auto decoded = decode_once(ks, c.pre, float_graph, a.batch, a.workers, int64_t{4} << 30);
      if (!decoded.is_ok()) return report_error(decoded.status());
      if (*decoded) kl_inputs = (*decoded)->batches();
    }
    SensitivityOptions so;
    so.bits = bits;
    so.num_threads = a.threads;
    so.activation_term = !a.weights_only;
    so.hutchinson.max_iterations = a.hutchinson_iterations;
    so.hutchinson.seed = a.seed;
    // One batch per Hutchinson iteration, in turn: more independent vectors for the same work.
    so.hutchinson.batches_per_iteration = 1;
    say(std::string("measuring sensitivity: ") +
        (use_kl ? "" : "Hessian traces (Hutchinson) on " + std::to_string(a.hessian_samples) + " images, ") +
        "output KL on " + std::to_string(a.kl_samples));
    auto hessian_bar = std::make_unique<ProgressBar>("hessian", use_kl ? 0 : a.hutchinson_iterations, chatty, "iter");
    auto kl_bar = std::make_unique<ProgressBar>("output KL", 0, chatty, "pass");
    so.hutchinson.progress = [&](int done, int total) {
      hessian_bar->update(done);
      if (done >= total) hessian_bar->finish();
      kl_bar->start();  // the KL passes begin when Hutchinson stops, converged or not
    };
    so.kl_progress = [&](int done, int total) {
      hessian_bar->finish();
      kl_bar->set_total(total);
      kl_bar->update(done);
    };
    auto measured = measure_layer_sensitivity(float_graph, *plan, c.layers, hessian_batches, kl_inputs, so);
    hessian_bar.reset();
    kl_bar.reset();
    if (!measured.is_ok()) {
      Status st = measured.status().with_context(a.model + ": sensitivity: ");
      if (!use_kl) st = Status(st.code(), st.message() + " (--sensitivity kl needs no backward pass)");
      return report_error(st);
    }
    sensitivity = std::move(measured).value();
    if (!a.sensitivity_file.empty()) {
      Status st = write_text_file_atomically(a.sensitivity_file, sensitivity_to_json(key, *sensitivity).dump(1) + "\n");
      if (!st.is_ok()) return report_error(st);
    }
  }

  // Latency lookup table (only when a latency budget asks for it).
  std::optional<LatencyTable> lut;
  if (latency) {
    LatencyOptions lo;
    lo.num_threads = a.threads > 0 ? a.threads : 2;
    std::vector<std::string> names;
    for (const ComputeLayer& l : c.layers) names.push_back(l.node);
    say("per-layer latency table (cached per machine)");
    ProgressBar bar("latency", 2 + static_cast<int64_t>(bits.size()), chatty, "step");
    lo.progress = [&](int done, int total) {
      bar.set_total(total);
      bar.update(done);
    };
    auto t = load_or_measure_layer_latency(float_graph, names, bits, lo,
                                           a.latency_cache.empty() ? default_latency_cache_dir() : a.latency_cache);
    if (!t.is_ok()) return report_error(t.status().with_context(a.model + ": latency table: "));
    lut = std::move(t).value();
  }

  // The integer program.
  AllocationProblem problem;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const ComputeLayer& l = c.layers[i];
    const LayerSensitivity& s = sensitivity->layers[i];
    std::vector<double> sens, lat;
    for (int b : bits) {
      sens.push_back(use_kl ? s.output_kl.at(b) : s.omega.at(b));
      if (lut) lat.push_back(lut->layers[i].us_by_bits.at(b) / 1e3);  // ms, the unit of --latency
    }
    auto o = layer_option_costs(l, bits, sens, lat);
    if (!o.is_ok()) return report_error(o.status());
    problem.names.push_back(l.node);
    problem.layers.push_back(std::move(o).value());
  }
  problem.ties = tie_groups(c.layers);
  if (!a.no_pin) problem.pinned_bits = default_pinned_bits(c.layers.size(), a.pin_bits);
  problem.size = size;
  problem.bops = bops;
  problem.latency = latency;

  std::vector<MixedRow> rows;
  MixedRow chosen;
  if (a.uniform) {
    std::vector<int> u(c.layers.size(), a.uniform);
    for (const auto& [i, b] : problem.pinned_bits) u[i] = b;
    chosen.name = "uniform " + std::to_string(a.uniform);
    chosen.bits = u;
    chosen.costs = evaluate_allocation(problem, u);
  } else {
    auto solved = solve_bit_allocation(problem);
    if (!solved.is_ok()) return report_error(solved.status());
    chosen.name = use_kl ? "kl" : "hessian";
    chosen.bits = solved->bits;
    chosen.costs = *solved;
    say("integer program solved in " + std::to_string(solved->solve_seconds * 1e3) + " ms");
  }

  // Calibrate, export and measure the chosen allocation.
  say("calibrating the chosen allocation on " + std::to_string(calib_samples.size()) + " images");
  std::string rule_text;
  std::ostringstream desc;
  desc << "qengine mixed " << key.model << ": " << chosen.name;
  if (size) desc << ", size " << a.size;
  if (bops) desc << ", BOPS " << a.bops;
  if (latency) desc << ", latency " << a.latency;
  desc << ", bits " << a.bits;
  auto quantized = quantize_with(c, chosen.bits, desc.str(), "calibrate", &rule_text);
  if (!quantized.is_ok()) return report_error(quantized.status());
  SessionOptions float_options;
  float_options.num_threads = a.threads;
  auto float_session = Session::create(float_graph, float_options);
  if (!float_session.is_ok()) return report_error(float_session.status());
  {
    std::vector<Tensor> inputs;
    auto shapes = concrete_input_shapes(float_graph, 1);
    if (!shapes.is_ok()) return report_error(shapes.status());
    std::mt19937 rng(1234);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (const Shape& s : *shapes) {
      Tensor t(DType::kF32, s);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
      inputs.push_back(t);
    }
    OpenModelOptions oo;
    oo.threads = a.threads;
    oo.quiet = a.quiet;
    auto integer_session = create_run_session(*quantized, "mixed", oo);
    if (!integer_session.is_ok()) return report_error(integer_session.status());
    ProgressBar bar("speed-up", 2 * static_cast<int64_t>(a.bench_runs), chatty, "run");
    chosen.float_ms = median_ms(**float_session, inputs, a.bench_runs, bar);
    chosen.integer_ms = median_ms(**integer_session, inputs, a.bench_runs, bar);
  }
  double float_top1 = -1;
  if (!c.val_samples.empty()) {
    say("validating on " + std::to_string(c.val_samples.size()) + " images");
    AccuracyOptions ao;
    ao.batch = a.batch;
    ao.workers = a.workers;
    ao.progress = c.progress;
    ao.progress_label = "val float";
    auto fa = measure_accuracy(**float_session, float_graph, c.val_samples, c.val_classes, c.pre, a.val_dir, ao);
    if (!fa.is_ok()) return report_error(fa.status());
    float_top1 = fa->images ? 100.0 * static_cast<double>(fa->top1) / static_cast<double>(fa->images) : 0;
    if (Status st = evaluate_row(c, *quantized, chosen); !st.is_ok()) return report_error(st);
  }
  rows.push_back(chosen);

  // Random allocations under the same budgets: the baseline the sensitivity must beat.
  double random_mean = 0;
  int random_evaluated = 0;
  for (int k = 0; k < a.random && !a.uniform; ++k) {
    auto drawn = random_allocation(problem, a.seed * 1000 + static_cast<uint64_t>(k));
    if (!drawn.is_ok()) return report_error(drawn.status());
    MixedRow r;
    r.name = "random #" + std::to_string(k + 1);
    r.bits = drawn->bits;
    r.costs = *drawn;
    say("calibrating " + r.name);
    auto q = quantize_with(c, r.bits, "random allocation", r.name, nullptr);
    if (!q.is_ok()) return report_error(q.status().with_context(r.name + ": "));
    if (Status st = evaluate_row(c, *q, r); !st.is_ok()) return report_error(st);
    if (r.top1 >= 0) {
      random_mean += r.top1;
      ++random_evaluated;
    }
    rows.push_back(r);
  }
  if (random_evaluated) random_mean /= random_evaluated;

  // Outputs.
  const std::string stem = model_stem(a.model);
  if (Status st = outputs->write_text("mixed_rules.json", rule_text); !st.is_ok()) return report_error(st);
  if (Status st = export_qonnx(*quantized, outputs->temp_path_for(stem + ".qonnx.onnx")); !st.is_ok()) {
    return report_error(st.with_context("writing " + stem + ".qonnx.onnx: "));
  }
  if (Status st = outputs->copy_sidecar(a.model, {stem + ".qonnx"}); !st.is_ok()) return report_error(st);
  nlohmann::json report;
  report["model"] = a.model;
  report["calib_dir"] = a.calib_dir;
  report["bits"] = bits;
  report["sensitivity"] = use_kl ? "kl" : "hessian";
  report["policy"] = policy;
  if (size) report["budgets"]["size"] = a.size;
  if (bops) report["budgets"]["bops"] = a.bops;
  if (latency) report["budgets"]["latency"] = a.latency;
  if (!a.uniform) {
    auto limits = resolve_budgets(problem);
    if (limits.is_ok()) {
      if (limits->size) report["limits"]["size_bytes"] = *limits->size;
      if (limits->bops) report["limits"]["bops"] = *limits->bops;
      if (limits->latency) report["limits"]["latency_ms"] = *limits->latency;
    }
    report["solve_seconds"] = chosen.costs.solve_seconds;
  }
  report["hutchinson_iterations"] = sensitivity->hutchinson_iterations;
  report["hutchinson_converged"] = sensitivity->hutchinson_converged;
  report["hessian_seconds"] = sensitivity->hessian_seconds;
  report["kl_seconds"] = sensitivity->kl_seconds;
  if (sensitivity->hutchinson_iterations > 0) {
    const int low = bits.front();
    std::vector<double> omega, kl;
    for (const LayerSensitivity& s : sensitivity->layers) {
      omega.push_back(s.omega.count(low) ? s.omega.at(low) : 0.0);
      kl.push_back(s.output_kl.count(low) ? s.output_kl.at(low) : 0.0);
    }
    report["ranking_spearman_hessian_vs_kl"] = spearman_rank_correlation(omega, kl);
  }
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const ComputeLayer& l = c.layers[i];
    const LayerSensitivity& s = sensitivity->layers[i];
    nlohmann::json lj = {{"layer", l.node}, {"params", l.params}, {"macs", l.macs}, {"hessian_trace", s.hessian_trace},
                         {"bits", chosen.bits[i]}};
    if (!s.activation.empty()) {
      lj["activation"] = s.activation;
      lj["activation_trace"] = s.activation_trace;
    }
    for (int b : bits) {
      lj["omega"][std::to_string(b)] = s.omega.count(b) ? s.omega.at(b) : 0.0;
      if (s.activation_omega.count(b)) lj["activation_omega"][std::to_string(b)] = s.activation_omega.at(b);
      lj["output_kl"][std::to_string(b)] = s.output_kl.count(b) ? s.output_kl.at(b) : 0.0;
      if (lut) lj["latency_us"][std::to_string(b)] = lut->layers[i].us_by_bits.at(b);
    }
    report["layers"].push_back(lj);
  }
  if (float_top1 >= 0) report["float_top1"] = float_top1;
  for (const MixedRow& r : rows) report["rows"].push_back(mixed_row_json(r, c.layers));
  if (random_evaluated) report["random_mean_top1"] = random_mean;
  report["files"] = {"mixed_rules.json", stem + ".qonnx.onnx"};
  report["total_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (Status st = outputs->write_text("mixed.json", report.dump(2) + "\n"); !st.is_ok()) return report_error(st);
  auto written = outputs->commit();
  if (!written.is_ok()) return report_error(written.status());

  if (a.json) {
    std::cout << report.dump() << "\n";
  } else if (!a.quiet) {
    std::cout << a.model << ": " << c.layers.size() << " layers, bits {" << a.bits << "}, "
              << (use_kl ? "output-KL" : "Hessian") << " sensitivity\n";
    std::cout << format_mixed_table(rows, float_top1);
    if (random_evaluated) {
      char line[128];
      std::snprintf(line, sizeof line, "random allocations (%d): mean top-1 %.2f %%\n", random_evaluated, random_mean);
      std::cout << line;
    }
    std::cout << "bits per layer:";
    for (size_t i = 0; i < c.layers.size(); ++i) std::cout << (i ? " " : " ") << chosen.bits[i];
    std::cout << "\nwrote " << out_dir << "/mixed_rules.json (use with `qengine calibrate --config`), " << stem
              << ".qonnx.onnx, mixed.json\n";
  }
  return kExitOk;
}

}  // namespace

void add_mixed_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<MixedArgs>();
  CLI::App* cmd = app.add_subcommand(
      "mixed", "HAWQ-style mixed precision: bits per layer by Hessian sensitivity under size/BOPS/latency budgets");
  cmd->add_option("model", args->model, "Float ONNX model")->required();
  cmd->add_option("calib_dir", args->calib_dir, "Calibration images (class folders: their labels drive the Hessian)")
      ->required();
  cmd->add_option("-o,--output-dir", args->out_dir, "Output directory (default: <model>-mixed)");
  auto* budget = "Budgets (a ratio r in [0,1]: all-low + r x (all-high - all-low); or absolute with a unit)";
  cmd->add_option("--size", args->size, "Weight size budget: r, or e.g. 5MB")->group(budget);
  cmd->add_option("--bops", args->bops, "BOPS budget (MACs x w_bits x a_bits): r, or e.g. 2.5G")->group(budget);
  cmd->add_option("--latency", args->latency, "Latency budget from the measured per-layer table: r, or e.g. 1.2ms")
      ->group(budget);
  cmd->add_option("--bits", args->bits, "Bit choices per layer (weights and the activation it reads; default 4,8)");
  cmd->add_option("--pin-bits", args->pin_bits, "Bits of the first and last layer (default 8)")->check(CLI::Range(2, 8));
  cmd->add_flag("--no-pin", args->no_pin, "Let the first and last layer be chosen too");
  cmd->add_option("--uniform", args->uniform, "No optimisation: every free layer at BITS (a reference row)")
      ->check(CLI::Range(2, 8));
  cmd->add_option("--sensitivity", args->sensitivity, "hessian (HAWQ-V3, plus HAWQ-V2's activation term unless --weights-only; default) or kl (output KL, data-driven)")
      ->check(CLI::IsMember({"hessian", "kl"}));
  cmd->add_flag("--weights-only", args->weights_only,
                "Hessian sensitivity of the weights alone, as HAWQ-V3 (default: also the activation each layer reads, as HAWQ-V2)");
  cmd->add_option("--sensitivity-file", args->sensitivity_file, "Reuse the sensitivity measured earlier (written when absent)");
  cmd->add_option("--config", args->config, "Base rule file (policy, defaults, algorithms); per-layer bits are added");
  cmd->add_option("--samples", args->samples, "Calibration images (default 1000)")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--hessian-samples", args->hessian_samples, "Images for the Hessian traces (default 256)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--hessian-batch", args->hessian_batch, "Batch of the Hessian passes (default 32)")->check(CLI::Range(1, 4096));
  cmd->add_option("--hutchinson-iterations", args->hutchinson_iterations, "Cap on Hutchinson iterations, one Hessian batch each (default 200)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--kl-samples", args->kl_samples, "Images for the output-KL sensitivity (default 64)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--random", args->random, "Also evaluate N random allocations with the same budgets")
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--seed", args->seed, "Seed of Hutchinson's vectors and the random allocations (default 1)");
  cmd->add_option("--latency-cache", args->latency_cache, "Directory of the per-machine latency tables");
  cmd->add_option("--bench-runs", args->bench_runs, "Timed batch-1 runs for the speed-up (default 30)")->check(CLI::Range(1, 100000));
  cmd->add_option("--val", args->val_dir, "Validation folder: top-1 of float and of each allocation");
  cmd->add_option("--val-limit", args->val_limit, "Validate on N images spread over the folder")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->add_option("--batch", args->batch, "Batch size of calibration and validation (default 16)")->check(CLI::Range(1, 4096));
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--decode-threads", args->workers, "Image decoding threads (default 2)")->check(CLI::Range(0, 64));
  cmd->add_flag("--json", args->json, "Print the report as one JSON object");
  cmd->add_flag("--quiet", args->quiet, "No progress or warnings");
  args->pre.add_to(cmd);
  cmd->callback([args, &exit_code] { exit_code = run_mixed(*args); });
}

}  // namespace qe::cli
