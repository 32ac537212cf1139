// qengine calibrate MODEL CALIB_DIR: rules → plan → calibration on images → QONNX + QCDQ +
// calibration.json (+ float vs quantized accuracy with --val). Every output appears at once or
// not at all.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/cli/accuracy.h"
#include "apps/cli/calib_batches.h"
#include "apps/cli/calibrate_report.h"
#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "apps/cli/output_files.h"
#include "apps/cli/preprocessing_flags.h"
#include "apps/cli/report_html.h"
#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "quant/ptq_pipeline.h"
#include "quant/quantize_graph.h"
#include "quant/calibrator.h"
#include "quant/finn_checker.h"
#include "quant/lower_trunc.h"
#include "quant/materialize.h"
#include "quant/policy.h"
#include "quant/prepare.h"
#include "quant/rules.h"
#include "quant/sqnr_report.h"

namespace qe::cli {

namespace {

namespace fs = std::filesystem;

struct CalibrateArgs {
  std::string model;
  std::string calib_dir;
  std::string out_dir;
  std::string config;
  std::string policy;
  int64_t samples = 1000;
  int64_t sqnr_samples = 128;
  int64_t bias_correction_samples = 128;
  bool no_bias_correction = false, bias_correction = false;
  // Post-training algorithms (override the rule file's "algorithms"; "" = not given).
  std::string equalize, smoothquant, gptq, gpfq, adaround, adaround_blocks;
  bool no_equalize = false;
  bool merge_bias = false, no_merge_bias = false;
  double split_ratio = -1;
  std::string split_side;
  int64_t ptq_samples = -1;
  std::string val_dir;
  std::string report;  // --report: HTML calibration report path ("" = none)
  int64_t val_limit = -1;
  std::vector<std::string> input_shapes;
  int batch = 16;
  int threads = 0;
  int workers = 2;
  bool explain = false;
  bool json = false;
  bool quiet = false;
  bool qcdq_int4 = false;
  // Flags that change the rule file's defaults (-1 / empty: not given).
  int w_bits = -1, a_bits = -1, bias_bits = -1, first_last_bits = -1;
  bool per_channel = false, per_tensor = false, po2 = false, act_sym = false, act_asym = false;
  std::string w_method, a_method;
  double percentile = -1;
  PreprocessingFlags pre;
};

Result<QuantFlags> flags_from_args(const CalibrateArgs& a) {
  QuantFlags f;
  if (a.w_bits != -1) f.w_bits = a.w_bits;
  if (a.a_bits != -1) f.a_bits = a.a_bits;
  if (a.bias_bits != -1) f.bias_bits = a.bias_bits;
  if (a.first_last_bits != -1) f.first_last_bits = a.first_last_bits;
  if (a.per_channel && a.per_tensor) return invalid_argument("--per-channel and --per-tensor exclude each other");
  if (a.per_channel) f.per_channel = true;
  if (a.per_tensor) f.per_channel = false;
  if (a.po2) f.po2 = true;
  if (a.act_sym && a.act_asym) return invalid_argument("--act-sym and --act-asym exclude each other");
  if (a.act_sym) f.act_symmetric = true;
  if (a.act_asym) f.act_symmetric = false;
  if (!a.policy.empty()) f.policy = a.policy;
  if (!a.w_method.empty()) f.w_method = a.w_method;
  if (!a.a_method.empty()) f.a_method = a.a_method;
  if (a.percentile != -1) f.percentile = a.percentile;
  return f;
}

Result<int> parse_count(const std::string& flag, const std::string& v, int lo, int hi) {
  try {
    size_t used = 0;
    const long n = std::stol(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return static_cast<int>(n);
  } catch (const std::exception&) {
  }
  return invalid_argument(flag, ": '", v, "' is not an integer in ", lo, "..", hi);
}

Result<double> parse_fraction(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const double x = std::stod(v, &used);
    if (used == v.size() && x >= 0 && x <= 1) return x;
  } catch (const std::exception&) {
  }
  return invalid_argument(flag, ": '", v, "' is not a number in [0, 1]");
}

// The algorithm flags, applied over the rule file's "algorithms".
Status apply_algorithm_flags(const CalibrateArgs& a, PtqConfig& c) {
  if (!a.equalize.empty() && a.no_equalize) return invalid_argument("--equalize and --no-equalize exclude each other");
  if (!a.equalize.empty()) {
    QE_ASSIGN_OR_RETURN(c.equalize_iterations, parse_count("--equalize", a.equalize, 1, 1000));
  }
  if (a.no_equalize) c.equalize_iterations = 0;
  if (a.merge_bias && a.no_merge_bias) return invalid_argument("--merge-bias and --no-merge-bias exclude each other");
  if (a.merge_bias) c.merge_bias = true;
  if (a.no_merge_bias) c.merge_bias = false;
  if (a.split_ratio != -1) {
    if (!(a.split_ratio > 0 && a.split_ratio <= 1)) {
      return invalid_argument("--split-channels: ", a.split_ratio, " is outside (0, 1]");
    }
    c.split_ratio = a.split_ratio;
  }
  if (!a.split_side.empty()) c.split_output_side = a.split_side == "output";
  if (!a.smoothquant.empty()) {
    QE_ASSIGN_OR_RETURN(c.smoothquant_alpha, parse_fraction("--smoothquant", a.smoothquant));
  }
  if (a.bias_correction && a.no_bias_correction) {
    return invalid_argument("--bias-correction and --no-bias-correction exclude each other");
  }
  if (a.bias_correction) c.bias_correction = true;
  if (a.no_bias_correction) c.bias_correction = false;
  const int rounding_flags = !a.gptq.empty() + !a.gpfq.empty() + !a.adaround.empty();
  if (rounding_flags > 1) return invalid_argument("--gptq, --gpfq and --adaround exclude each other");
  if (!a.gptq.empty()) {
    if (a.gptq != "on" && a.gptq != "act-order") {
      return invalid_argument("--gptq: '", a.gptq, "' is not a GPTQ option (expected --gptq or --gptq=act-order)");
    }
    c.rounding = WeightRoundingAlgorithm::kGptq;
    c.gptq_act_order = a.gptq == "act-order";
  }
  if (!a.gpfq.empty()) c.rounding = WeightRoundingAlgorithm::kGpfq;
  if (!a.adaround.empty()) {
    c.rounding = WeightRoundingAlgorithm::kAdaRound;
    QE_ASSIGN_OR_RETURN(c.adaround_iterations, parse_count("--adaround", a.adaround, 1, 100000));
  }
  if (!a.adaround_blocks.empty()) {
    if (c.rounding != WeightRoundingAlgorithm::kAdaRound) {
      return invalid_argument("--adaround-blocks needs --adaround (or \"adaround\" in the rule file)");
    }
    c.adaround_blocks = true;
    QE_ASSIGN_OR_RETURN(c.adaround_block_iterations, parse_count("--adaround-blocks", a.adaround_blocks, 1, 100000));
  }
  return Status::ok();
}

int run_calibrate(const CalibrateArgs& a) {
  // Bars are drawn only on a terminal (apps/cli/progress.h); warnings go to stderr even with --json.
  const bool progress = !a.json && !a.quiet;
  const auto t_start = std::chrono::steady_clock::now();

  // Rules first: a typo in the rule file should not wait for the model to load.
  RuleSet rules = default_rule_set();
  if (!a.config.empty()) {
    auto loaded = load_rule_file(a.config);
    if (!loaded.is_ok()) return report_error(loaded.status());
    rules = std::move(loaded).value();
  }
  auto flags = flags_from_args(a);
  if (!flags.is_ok()) return report_error(flags.status());
  if (Status st = apply_flags(rules, *flags); !st.is_ok()) return report_error(st);
  if (Status st = apply_algorithm_flags(a, rules.algorithms); !st.is_ok()) return report_error(st);
  const PtqConfig& algorithms = rules.algorithms;

  auto imported = import_onnx_file(a.model);
  if (!imported.is_ok()) return report_error(imported.status());
  Graph model = std::move(imported).value();
  if (Status st = apply_input_shape_flags(model, a.model, a.input_shapes); !st.is_ok()) return report_error(st);
  auto pre = resolve_preprocessing(a.model, model, a.pre, a.quiet);
  if (!pre.is_ok()) return report_error(pre.status());

  const std::string policy = !a.policy.empty() ? a.policy : !rules.policy.empty() ? rules.policy : "full";
  PrepareOptions po;
  po.keep_batch_norm = policy == "finn";
  po.num_threads = a.threads;
  auto prepared = prepare_float_graph(model, po);
  if (!prepared.is_ok()) return report_error(prepared.status().with_context(a.model + ": "));
  Graph& float_graph = *prepared;

  auto dataset = open_image_folder(a.calib_dir);
  if (!dataset.is_ok()) return report_error(dataset.status());
  if (!a.quiet) {
    for (const auto& w : dataset->warnings) warn(w);
  }
  const std::vector<Sample> calib_samples = pick_samples(dataset->samples, a.samples);

  // Equalization, channel splitting and SmoothQuant reshape the float model itself, before
  // any rule is resolved against it.
  FloatTransformReport transforms;
  if (algorithms.any_float_transform()) {
    auto done = apply_float_transforms(float_graph, algorithms,
                                       folder_passes(calib_samples, *pre, float_graph, a.batch, a.workers), a.threads);
    if (!done.is_ok()) return report_error(done.status().with_context(a.model + ": "));
    transforms = std::move(done).value();
  }

  auto config = resolve_rules(float_graph, rules);
  if (!config.is_ok()) return report_error(config.status());
  config->policy = policy;
  auto plan = make_quant_plan(float_graph, *config, policy);
  if (!plan.is_ok()) return report_error(plan.status().with_context(a.model + ": "));
  if (a.explain) {
    std::cout << explain_config(float_graph, *config, &*plan);
    for (const auto& w : config->warnings) warn(w);
    return kExitOk;
  }
  if (!a.quiet) {
    for (const auto& w : config->warnings) warn(w);
  }

  // The output directory (and the report's) is checked before the long part.
  if (!a.report.empty()) {
    if (Status st = check_report_path(a.report); !st.is_ok()) return report_error(st);
  }
  const std::string out_dir = !a.out_dir.empty() ? a.out_dir : model_stem(a.model) + "-quant";
  auto outputs = OutputFileSet::open(out_dir);
  if (!outputs.is_ok()) return report_error(outputs.status());

  auto source = FolderSource::create(calib_samples, *pre, float_graph, a.batch, a.workers);
  if (!source.is_ok()) return report_error(source.status().with_context(a.calib_dir + ": "));
  CalibrationOptions co;
  co.num_threads = a.threads;
  auto calibration_bar =
      std::make_unique<ProgressBar>("calibrate", static_cast<int64_t>(calib_samples.size()), progress);
  co.progress = [&](int64_t done) { calibration_bar->update(done); };
  auto calibration = calibrate(float_graph, *plan, source->source(), co);
  calibration_bar.reset();
  if (!calibration.is_ok() && source->seen() == 0 && source->skipped() > 0) {
    const auto skipped = source->warnings();
    return report_error(invalid_argument(a.calib_dir, ": no calibration image could be read",
                                         skipped.empty() ? std::string() : " (first: " + skipped.front() + ")",
                                         "; JPEG, PNG or BMP files expected"));
  }
  if (!a.quiet) {
    for (const auto& w : source->warnings()) warn(w);
  }
  if (!calibration.is_ok()) return report_error(calibration.status().with_context(a.calib_dir + ": "));

  auto quantized = materialize_plan(float_graph, *plan, *calibration);
  if (!quantized.is_ok()) return report_error(quantized.status());

  // GPTQ / GPFQ / AdaRound (one pass over their images per layer), then bias correction.
  std::unique_ptr<CachedBatches> cache;
  BatchSourceFactory rounding_batches;
  if (algorithms.rounding != WeightRoundingAlgorithm::kNearest) {
    const std::vector<Sample> ptq_samples = pick_samples(calib_samples, a.ptq_samples);
    auto decoded = decode_once(ptq_samples, *pre, float_graph, a.batch, a.workers, int64_t{2} << 30);
    if (!decoded.is_ok()) return report_error(decoded.status());
    cache = std::move(decoded).value();
    rounding_batches = cache ? cache->passes() : folder_passes(ptq_samples, *pre, float_graph, a.batch, a.workers);
  }
  RefineOptions ro;
  ro.num_threads = a.threads;
  const std::string rounding_name(weight_rounding_name(algorithms.rounding));
  // Rounding goes layer by layer, then bias correction streams its images once: one bar each.
  std::unique_ptr<ProgressBar> rounding_bar, block_bar, bias_bar;
  if (algorithms.rounding != WeightRoundingAlgorithm::kNearest) {
    rounding_bar = std::make_unique<ProgressBar>(rounding_name, 0, progress, "layer");
    ro.progress = [&](int done, int total) {
      rounding_bar->set_total(total);
      rounding_bar->update(done);
      if (done >= total) rounding_bar->finish();  // bias correction draws its own bar next
    };
  }
  if (algorithms.adaround_blocks) {
    block_bar = std::make_unique<ProgressBar>("blocks", 0, progress, "block");
    ro.block_progress = [&](int done, int total) {
      block_bar->set_total(total);
      block_bar->update(done);
      if (done >= total) block_bar->finish();
    };
  }
  const std::vector<Sample> bias_samples = pick_samples(calib_samples, a.bias_correction_samples);
  BatchSourceFactory bias_batches = folder_passes(bias_samples, *pre, float_graph, a.batch, a.workers);
  if (algorithms.bias_correction) {
    bias_bar = std::make_unique<ProgressBar>("bias corr.", static_cast<int64_t>(bias_samples.size()), progress);
    bias_batches = counted_passes(std::move(bias_batches), *bias_bar);
  }
  auto refined = refine_quantized_graph(float_graph, *quantized, *plan, algorithms, rounding_batches, bias_batches, ro);
  rounding_bar.reset();
  block_bar.reset();
  bias_bar.reset();
  if (!refined.is_ok()) return report_error(refined.status());

  // Per-layer SQNR on (a prefix of) the calibration images.
  const std::vector<Sample> sqnr_samples = pick_samples(calib_samples, a.sqnr_samples);
  ProgressBar sqnr_bar("SQNR", static_cast<int64_t>(sqnr_samples.size()), progress);
  auto sqnr_source = counted_passes(folder_passes(sqnr_samples, *pre, float_graph, a.batch, a.workers), sqnr_bar)();
  if (!sqnr_source.is_ok()) return report_error(sqnr_source.status());
  SqnrOptions so;
  so.num_threads = a.threads;
  auto sqnr = measure_sqnr(float_graph, *quantized, *plan, *sqnr_source, -1, so);
  sqnr_bar.finish();
  if (!sqnr.is_ok()) return report_error(sqnr.status());

  // --report: one more pass over the calibration images for the activation histograms.
  std::vector<QuantizerHistogram> activation_hists, weight_hists;
  if (!a.report.empty()) {
    ProgressBar hist_bar("histograms", static_cast<int64_t>(calib_samples.size()), progress);
    auto hist_source = counted_passes(cache && a.ptq_samples == -1
                                          ? cache->passes()
                                          : folder_passes(calib_samples, *pre, float_graph, a.batch, a.workers),
                                      hist_bar)();
    if (!hist_source.is_ok()) return report_error(hist_source.status());
    HistogramOptions ho;
    ho.num_threads = a.threads;
    auto hists = collect_activation_histograms(float_graph, *plan, *calibration, *hist_source, ho);
    hist_bar.finish();
    if (!hists.is_ok()) return report_error(hists.status().with_context("--report: "));
    activation_hists = std::move(hists).value();
    auto whists = collect_weight_histograms(float_graph, *plan, *calibration);
    if (!whists.is_ok()) return report_error(whists.status().with_context("--report: "));
    weight_hists = std::move(whists).value();
  }

  CalibrateSummary summary;
  if (policy == "finn") {
    // The finn policy aims at FINN's rules; the checker says whether the result really meets them.
    for (const FinnViolation& v : check_finn(*quantized)) {
      summary.finn_violations.push_back(v.node + ": " + v.rule + ": " + v.message);
      if (!a.quiet) warn("FINN rule broken: " + summary.finn_violations.back());
    }
    summary.finn_checked = true;
  }
  summary.model = a.model;
  summary.calib_dir = a.calib_dir;
  summary.policy = policy;
  summary.rule_file = a.config;
  summary.samples = source->seen();
  summary.skipped = source->skipped();
  summary.calibration_seconds = calibration->seconds;
  summary.bias_corrected_nodes = refined->bias_corrected_nodes;
  summary.bias_correction_samples = refined->bias_correction_samples;
  summary.bias_correction_seconds = refined->bias_correction_seconds;
  summary.transforms = transforms;
  summary.rounding_algorithm = algorithms.adaround_blocks ? rounding_name + "+blocks" : rounding_name;
  if (refined->rounded) summary.rounding = refined->rounding;
  summary.image_cache_bytes = cache ? cache->bytes() : 0;

  // Accuracy on the validation folder: float and quantized, image by image.
  const auto t_val = std::chrono::steady_clock::now();
  if (!a.val_dir.empty()) {
    auto val = open_image_folder(a.val_dir);
    if (!val.is_ok()) return report_error(val.status());
    const std::vector<Sample> val_samples = pick_samples(val->samples, a.val_limit);
    AccuracyOptions ao;
    ao.batch = a.batch;
    ao.workers = a.workers;
    ao.progress = progress;
    SessionOptions sopt;
    sopt.num_threads = a.threads;
    auto float_session = Session::create(float_graph, sopt);
    if (!float_session.is_ok()) return report_error(float_session.status());
    auto quant_session = Session::create(*quantized, sopt);
    if (!quant_session.is_ok()) return report_error(quant_session.status());
    ao.progress_label = "float";
    auto fa = measure_accuracy(**float_session, float_graph, val_samples, val->classes, *pre, a.val_dir, ao);
    if (!fa.is_ok()) return report_error(fa.status());
    ao.progress_label = "quantized";
    auto qa = measure_accuracy(**quant_session, *quantized, val_samples, val->classes, *pre, a.val_dir, ao);
    if (!qa.is_ok()) return report_error(qa.status());
    summary.val = ValComparison::from(*fa, *qa);
    summary.validation_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_val).count();
    summary.val_dir = a.val_dir;
  }

  // Outputs: QONNX always; QCDQ when every quantizer fits it.
  const std::string stem = model_stem(a.model);
  if (Status st = export_qonnx(*quantized, outputs->temp_path_for(stem + ".qonnx.onnx")); !st.is_ok()) {
    return report_error(st.with_context("writing " + stem + ".qonnx.onnx: "));
  }
  summary.files.push_back(stem + ".qonnx.onnx");
  QcdqExportOptions qo;
  qo.int4_weights = a.qcdq_int4;
  auto qcdq_graph = lower_trunc_to_standard_ops(*quantized);
  Status qcdq_ok = qcdq_graph.is_ok() ? lower_to_qcdq(*qcdq_graph, qo).status() : qcdq_graph.status();
  if (qcdq_ok.is_ok()) {
    if (Status st = export_qcdq(*qcdq_graph, outputs->temp_path_for(stem + ".qcdq.onnx"), qo); !st.is_ok()) {
      return report_error(st.with_context("writing " + stem + ".qcdq.onnx: "));
    }
    summary.files.push_back(stem + ".qcdq.onnx");
  } else {
    summary.qcdq_skipped_reason = qcdq_ok.message();
  }
  // The sidecar travels with the outputs so that `qengine eval OUT/<model>.qonnx.onnx` preprocesses alike.
  std::vector<std::string> sidecars = {stem + ".qonnx"};
  if (summary.qcdq_skipped_reason.empty()) sidecars.push_back(stem + ".qcdq");
  if (Status st = outputs->copy_sidecar(a.model, sidecars); !st.is_ok()) return report_error(st);
  summary.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  auto report = calibration_report_json(float_graph, *plan, *calibration, *sqnr, summary);
  if (!report.is_ok()) return report_error(report.status());
  if (Status st = outputs->write_text("calibration.json", report->dump(2) + "\n"); !st.is_ok()) return report_error(st);
  Result<std::string> html = std::string();
  if (!a.report.empty()) {
    html = calibration_report_html({float_graph, *plan, *calibration, *sqnr, summary, activation_hists, weight_hists});
    if (!html.is_ok()) return report_error(html.status());
  }
  auto written = outputs->commit();
  if (!written.is_ok()) return report_error(written.status());
  if (!a.report.empty()) {
    if (Status st = write_report(a.report, *html); !st.is_ok()) return report_error(st);
  }
  summary.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  if (a.json) {
    std::cout << summary_json(summary, *plan, *sqnr).dump() << "\n";
  } else if (!a.quiet) {
    print_summary(std::cout, summary, *plan, *sqnr, out_dir);
    if (!a.report.empty()) std::cout << "wrote " << a.report << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_calibrate_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = app.add_subcommand("calibrate", "Quantize a float model: calibrate on images, write QONNX and QCDQ");
  cmd->add_option("model", args->model, "Float ONNX model")->required();
  cmd->add_option("calib_dir", args->calib_dir, "Calibration images: DIR/<class>/<image> (or any folder of folders)")
      ->required();
  cmd->add_option("-o,--output-dir", args->out_dir, "Output directory (default: <model>-quant)");
  cmd->add_option("--config", args->config, "Quantization rule file (JSON, see docs/config.md)");
  cmd->add_option("--policy", args->policy, "Where quantizers go: layerwise, full (default) or finn")
      ->check(CLI::IsMember({"layerwise", "full", "finn"}));
  cmd->add_option("--samples", args->samples, "Calibration images, spread over the folder (default 1000)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--sqnr-samples", args->sqnr_samples, "Images for the per-layer SQNR report (default 128)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  auto* ptq = "Post-training algorithms (override the rule file's \"algorithms\"; see docs/config.md)";
  cmd->add_flag("--equalize{20}", args->equalize,
                "Cross-layer equalization, ITERS iterations (on by default with 20, as in Brevitas; --equalize=ITERS)")
      ->group(ptq);
  cmd->add_flag("--no-equalize", args->no_equalize, "Skip cross-layer equalization")->group(ptq);
  cmd->add_flag("--merge-bias", args->merge_bias, "Equalization counts the bias in a layer's range (default)")->group(ptq);
  cmd->add_flag("--no-merge-bias", args->no_merge_bias, "Equalization ignores the bias")->group(ptq);
  cmd->add_option("--split-channels", args->split_ratio, "Channel splitting: duplicate this fraction of channels (e.g. 0.02)")
      ->group(ptq);
  cmd->add_option("--split-side", args->split_side, "Channel splitting on the input (default) or output side")
      ->check(CLI::IsMember({"input", "output"}))
      ->group(ptq);
  cmd->add_flag("--smoothquant{0.5}", args->smoothquant, "SmoothQuant activation equalization (--smoothquant=ALPHA, default 0.5)")
      ->group(ptq);
  cmd->add_flag("--bias-correction", args->bias_correction, "Bias correction (on by default, as in Brevitas)")->group(ptq);
  cmd->add_flag("--no-bias-correction", args->no_bias_correction, "Skip bias correction")->group(ptq);
  cmd->add_flag("--gptq{on}", args->gptq, "GPTQ weight rounding (--gptq=act-order: columns by decreasing Hessian diagonal)")
      ->group(ptq);
  cmd->add_flag("--gpfq{on}", args->gpfq, "GPFQ weight rounding")->group(ptq);
  cmd->add_flag("--adaround{1000}", args->adaround, "AdaRound learned rounding (--adaround=ITERS, default 1000)")
      ->group(ptq);
  cmd->add_flag("--adaround-blocks{300}", args->adaround_blocks,
                "Then refine AdaRound block by block (BRECQ), ITERS minibatch steps per block (--adaround-blocks=ITERS, "
                "default 300)")
      ->group(ptq);
  cmd->add_option("--ptq-samples", args->ptq_samples,
                  "Images for GPTQ / GPFQ / AdaRound (default: all calibration images)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->group(ptq);
  cmd->add_option("--bias-correction-samples", args->bias_correction_samples,
                  "Images used for bias correction (default 128)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->group(ptq);
  cmd->add_option("--val", args->val_dir, "Validation folder: float vs quantized top-1/top-5");
  cmd->add_option("--report", args->report, "Write a self-contained HTML calibration report to this file");
  cmd->add_option("--val-limit", args->val_limit, "Validate on N images spread over the folder")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->add_option("--batch", args->batch, "Batch size (default 16)")->check(CLI::Range(1, 4096));
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--decode-threads", args->workers, "Image decoding threads (default 2)")->check(CLI::Range(0, 64));
  cmd->add_flag("--explain-config", args->explain, "Print the resolved settings per node and exit");
  cmd->add_flag("--json", args->json, "Print one JSON summary object");
  cmd->add_flag("--quiet", args->quiet, "No progress bar or warnings");
  cmd->add_flag("--qcdq-int4", args->qcdq_int4, "Store <=4-bit QCDQ weights as ONNX int4/uint4 (opset 21)");
  auto* q = "Quantization (override the rule file's defaults)";
  cmd->add_option("--w-bits", args->w_bits, "Weight bits (1-8)")->group(q);
  cmd->add_option("--a-bits", args->a_bits, "Activation bits (1-8)")->group(q);
  cmd->add_option("--bias-bits", args->bias_bits, "Bias bits: 32, 16 or 0 (float)")->group(q);
  cmd->add_option("--first-last-bits", args->first_last_bits, "Bits of the first and last compute layers")->group(q);
  cmd->add_flag("--per-channel", args->per_channel, "Per-output-channel weight scales")->group(q);
  cmd->add_flag("--per-tensor", args->per_tensor, "Per-tensor weight scales")->group(q);
  cmd->add_flag("--po2", args->po2, "Power-of-two scales")->group(q);
  cmd->add_flag("--act-sym", args->act_sym, "Symmetric activations (zero point 0)")->group(q);
  cmd->add_flag("--act-asym", args->act_asym, "Asymmetric activations (with a zero point)")->group(q);
  cmd->add_option("--w-method", args->w_method, "Weight range: absmax, minmax or mse")->group(q);
  cmd->add_option("--a-method", args->a_method, "Activation range: percentile, minmax, mse or entropy")->group(q);
  cmd->add_option("--percentile", args->percentile, "Activation percentile (default 99.999)")->group(q);
  args->pre.add_to(cmd);
  cmd->callback([args, &exit_code] { exit_code = run_calibrate(*args); });
}

}  // namespace qe::cli
